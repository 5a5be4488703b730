"""Events: what a standing query found in a window, with wall-clock times and boxes.

An :class:`Event` is one confident grounding result turned into facts an operator can act
on: which source, which query, when (UTC start and end), where (one box per frame), how sure
(the tube's score in [0, 1]) and the clip that shows it. Its JSON form (one line of the
events file) looks like this (lists shortened)::

    {"event_id": "9b1c0e6a2f4d1e07", "source": "gate", "query": "a person climbs the fence",
     "start": "2026-03-01T10:15:02.400000Z", "end": "2026-03-01T10:15:06.000000Z",
     "duration_s": 3.6, "score": 0.8731, "segment": 0, "file": null,
     "frames": [1812, 1813, ...], "positions": [1812, 1813, ...],
     "times": ["2026-03-01T10:15:02.400000Z", ...], "boxes": [[412.0, 96.5, 470.25, 260.0], ...],
     "clip": "clips/gate_20260301T101500.000Z_w00181.mp4", "clips": [...], "windows": [181, 182],
     "track_id": 3}

``frames`` are the source's running frame indices, ``positions`` the frame numbers inside the
segment (for a file: its frame index, to find the boxes in the original export), ``times``
the UTC wall clock of each frame, and ``boxes`` ``[x1, y1, x2, y2]`` pixels of the original
frame. ``end`` is exclusive (the end of the last frame).

Overlapping windows see the same happening twice; :class:`EventMerger` merges such duplicates
(same query and segment, overlapping or adjacent frames, boxes that agree) before anything is
written, holding an event back only while a later window could still extend it.

Example:
    >>> from datetime import datetime, timezone
    >>> e = Event(source_id="gate", query="a person", start=datetime(2026, 3, 1, tzinfo=timezone.utc),
    ...           end=datetime(2026, 3, 1, 0, 0, 1, tzinfo=timezone.utc), score=0.9, frames=(0,),
    ...           positions=(0,), times=(datetime(2026, 3, 1, tzinfo=timezone.utc),), boxes=((1, 2, 3, 4),))
    >>> Event.from_dict(e.to_dict()) == e
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
from tubescope.errors import ValidationError
from tubescope.eval.boxes import box_iou
from tubescope.integrations.cctv.sources.base import isoformat_utc
from tubescope.integrations.cctv.windows import Window
from tubescope.types import GroundingResult

__all__ = ["Event", "EventMerger", "events_from_results"]

_FIELDS = (
    "event_id",
    "source",
    "query",
    "start",
    "end",
    "duration_s",
    "score",
    "segment",
    "file",
    "frames",
    "positions",
    "times",
    "boxes",
    "clip",
    "clips",
    "windows",
    "track_id",
)


def _parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValidationError(f"expected an ISO 8601 UTC time string, got {value!r}", name)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"not an ISO 8601 time: {value!r}", name) from None
    if moment.tzinfo is None:
        raise ValidationError(f"time {value!r} has no time zone (expected UTC, ending in Z)", name)
    return moment


@dataclass(frozen=True, eq=False)
class Event:
    """A confident detection of a query's target over a time span of one source.

    Times are timezone-aware UTC datetimes; ``end`` is exclusive. ``frames``, ``positions``,
    ``times`` and ``boxes`` are parallel (one entry per frame with a box). ``clip`` is the
    first annotated clip showing the event (None without a clip sink), ``clips`` all of them.
    """

    source_id: str
    query: str
    start: datetime
    end: datetime
    score: float
    frames: tuple[int, ...] = ()
    positions: tuple[int, ...] = ()
    times: tuple[datetime, ...] = ()
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    segment: int = 0
    file: str | None = None
    clips: tuple[str, ...] = ()
    windows: tuple[int, ...] = ()
    track_id: int | str | None = None
    event_id: str = field(default="")

    def __post_init__(self) -> None:
        if not (len(self.frames) == len(self.positions) == len(self.times) == len(self.boxes)):
            raise ValidationError(
                f"frames ({len(self.frames)}), positions ({len(self.positions)}), times ({len(self.times)}) "
                f"and boxes ({len(self.boxes)}) must have one entry per frame",
                "boxes",
            )
        if self.end < self.start:
            raise ValidationError(f"end {self.end} precedes start {self.start}", "end")
        if not 0.0 <= float(self.score) <= 1.0:
            raise ValidationError(f"must be in [0, 1], got {self.score}", "score")
        object.__setattr__(self, "boxes", tuple(tuple(float(v) for v in box) for box in self.boxes))
        if not self.event_id:
            object.__setattr__(self, "event_id", self.make_id())

    def make_id(self) -> str:
        """A stable id from the source, query and start time (the same event gets the same id)."""
        key = f"{self.source_id}\n{self.query}\n{isoformat_utc(self.start)}"
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    @property
    def clip(self) -> str | None:
        return self.clips[0] if self.clips else None

    @property
    def duration(self) -> float:
        return (self.end - self.start).total_seconds()

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to the events file (floats rounded: boxes 2, score 4 decimals)."""
        return {
            "event_id": self.event_id,
            "source": self.source_id,
            "query": self.query,
            "start": isoformat_utc(self.start),
            "end": isoformat_utc(self.end),
            "duration_s": round(self.duration, 3),
            "score": round(float(self.score), 4),
            "segment": self.segment,
            "file": self.file,
            "frames": list(self.frames),
            "positions": list(self.positions),
            "times": [isoformat_utc(t) for t in self.times],
            "boxes": [[round(v, 2) for v in box] for box in self.boxes],
            "clip": self.clip,
            "clips": list(self.clips),
            "windows": list(self.windows),
            "track_id": self.track_id,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> Event:
        """Read an event back from its JSON object (unknown or missing fields raise)."""
        if not isinstance(data, dict):
            raise ValidationError(f"expected an object, got {type(data).__name__}", "event")
        missing = [k for k in _FIELDS if k not in data]
        unknown = [k for k in data if k not in _FIELDS]
        if missing or unknown:
            raise ValidationError(f"missing fields {missing}, unknown fields {unknown}", "event")
        return cls(
            source_id=data["source"],
            query=data["query"],
            start=_parse_time(data["start"], "start"),
            end=_parse_time(data["end"], "end"),
            score=float(data["score"]),
            frames=tuple(int(v) for v in data["frames"]),
            positions=tuple(int(v) for v in data["positions"]),
            times=tuple(_parse_time(t, "times") for t in data["times"]),
            boxes=tuple(tuple(box) for box in data["boxes"]),
            segment=int(data["segment"]),
            file=data["file"],
            clips=tuple(data["clips"]),
            windows=tuple(int(v) for v in data["windows"]),
            track_id=data["track_id"],
            event_id=data["event_id"],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Event({self.event_id}, {self.source_id!r}, {self.query!r}, {isoformat_utc(self.start)} "
            f"+{self.duration:.2f}s, score={self.score:.3f}, boxes={len(self.boxes)}, clip={self.clip!r})"
        )


def events_from_results(
    window: Window, results: Sequence[GroundingResult], *, min_score: float
) -> list[tuple[Event, GroundingResult]]:
    """Turn a window's grounding results into events (those with a tube scoring >= ``min_score``).

    Returns ``(event, result)`` pairs, the result kept for clip rendering. Tube frames are
    window frame numbers; events carry source frame indices and wall clocks.
    """
    out = []
    frames = window.frames
    for result in results:
        tube = result.tube
        if tube is None or tube.score is None or tube.score < min_score:
            continue
        start, end = tube.start_frame, min(tube.end_frame, len(frames))
        if start >= end:
            continue
        kept, boxes = [], []
        for local in range(start, end):
            box = tube.box_at(local)
            if box is not None:
                kept.append(frames[local])
                x1, y1, x2, y2 = (float(v) for v in box)
                boxes.append((x1, y1, x2, y2))
        end_time = frames[end].wallclock if end < len(frames) else window.end
        event = Event(
            source_id=window.source_id,
            query=result.query,
            start=frames[start].wallclock,
            end=end_time,
            score=float(min(max(tube.score, 0.0), 1.0)),
            frames=tuple(f.index for f in kept),
            positions=tuple(f.position for f in kept),
            times=tuple(f.wallclock for f in kept),
            boxes=tuple(boxes),
            segment=window.segment,
            file=window.file,
            windows=(window.window_id,),
            track_id=result.track_id,
        )
        out.append((event, result))
    return out


def _pair_iou(a: Sequence[float], b: Sequence[float]) -> float:
    return float(box_iou(np.asarray([a], dtype=np.float64), np.asarray([b], dtype=np.float64))[0])


def _same_target(a: Event, b: Event, iou: float) -> bool:
    """Do two events of one query and segment show the same happening?

    Their frame ranges must overlap or touch (``b`` starting at most one frame after ``a``
    ends, or vice versa), and their boxes must agree: mean IoU >= ``iou`` on shared frames, or
    IoU of the boxes on either side of the seam when they only touch. Events without boxes
    agree on time alone.
    """
    if not a.frames or not b.frames:
        return a.start <= b.end and b.start <= a.end
    if b.frames[0] > a.frames[-1] + 1 or a.frames[0] > b.frames[-1] + 1:
        return False
    boxes_a = dict(zip(a.frames, a.boxes))
    common = [f for f in b.frames if f in boxes_a]
    if common:
        boxes_b = dict(zip(b.frames, b.boxes))
        return float(np.mean([_pair_iou(boxes_a[f], boxes_b[f]) for f in common])) >= iou
    first, second = (a, b) if a.frames[-1] < b.frames[0] else (b, a)
    return _pair_iou(first.boxes[-1], second.boxes[0]) >= iou


def _merge(a: Event, b: Event) -> Event:
    """One event covering both; on shared frames the higher-scoring event's boxes win."""
    strong, weak = (a, b) if a.score >= b.score else (b, a)
    rows: dict[int, tuple[int, datetime, tuple[float, float, float, float]]] = {}
    for ev in (weak, strong):
        for frame, position, moment, box in zip(ev.frames, ev.positions, ev.times, ev.boxes):
            rows[frame] = (position, moment, box)
    order = sorted(rows)
    first = a if (a.start, a.event_id) <= (b.start, b.event_id) else b
    return replace(
        first,
        start=min(a.start, b.start),
        end=max(a.end, b.end),
        score=max(a.score, b.score),
        frames=tuple(order),
        positions=tuple(rows[f][0] for f in order),
        times=tuple(rows[f][1] for f in order),
        boxes=tuple(rows[f][2] for f in order),
        clips=tuple(dict.fromkeys(first.clips + (b.clips if first is a else a.clips))),
        windows=tuple(sorted(set(a.windows) | set(b.windows))),
        track_id=strong.track_id,
        event_id="",
    )


class EventMerger:
    """Merges duplicate events from overlapping windows before they are emitted.

    An event is held while a later window of its segment could still see or continue it (its
    last frame is at or just before the window's ``next_start``); it is released once the next window has been
    merged in, when its segment ends, or on :meth:`flush`. Released events come out in start
    order. The merged event keeps the earliest start, the latest end, the best score, every
    clip, and the stronger event's boxes on shared frames.

    Args:
        iou: box agreement needed to call two detections the same target.

    Example:
        >>> merger = EventMerger()
        >>> merger.pending
        []
    """

    def __init__(self, iou: float = 0.3) -> None:
        if not 0.0 <= iou <= 1.0:
            raise ValueError(f"iou must be in [0, 1], got {iou}")
        self.iou = iou
        self.pending: list[Event] = []
        self.merged = 0  # duplicates absorbed

    def add(self, window: Window, events: Sequence[Event]) -> list[Event]:
        """Merge ``window``'s events in; return the events that can no longer change."""
        for event in events:
            for k, held in enumerate(self.pending):
                if (
                    held.query == event.query
                    and held.segment == event.segment
                    and _same_target(held, event, self.iou)
                ):
                    self.pending[k] = _merge(held, event)
                    self.merged += 1
                    break
            else:
                self.pending.append(event)
        ready: list[Event] = []
        keep: list[Event] = []
        for held in self.pending:
            later_window_may_extend = (
                held.segment == window.segment
                and window.next_start is not None
                and held.frames
                and held.frames[-1] + 1
                >= window.next_start  # reaches (or touches) what a later window sees
            )
            (keep if later_window_may_extend else ready).append(held)
        self.pending = keep
        return sorted(ready, key=lambda e: (e.start, e.query))

    def end_segment(self, segment: int) -> list[Event]:
        """Release every event of ``segment`` (and of older segments)."""
        ready = [e for e in self.pending if e.segment <= segment]
        self.pending = [e for e in self.pending if e.segment > segment]
        return sorted(ready, key=lambda e: (e.start, e.query))

    def flush(self) -> list[Event]:
        """Release everything held."""
        ready, self.pending = self.pending, []
        return sorted(ready, key=lambda e: (e.start, e.query))
