"""Events: what a standing query found, with wall-clock times and boxes, line by line.

An :class:`Event` is one confident finding turned into facts an operator can act on: which
source, which query, when (UTC start and end), where (one box per frame), how sure (the best
score in [0, 1]) and the clips that show it. A happening is written as it unfolds, as several
lines of the events file that share one ``event_id`` (see
:mod:`~tubescope.integrations.cctv.lifecycle`): ``state`` is ``"open"`` (the first line,
written at the end of the first confident window), ``"update"`` (while it goes on) or
``"close"`` (it ended; ``reason`` says why); ``revision`` counts the lines of one event from 0.
One line looks like this (lists shortened)::

    {"schema_version": 1, "event_id": "9b1c0e6a2f4d1e07", "state": "close", "revision": 2,
     "reason": "ended", "previous": null, "source": "gate", "query": "a person climbs the fence",
     "start": "2026-03-01T10:15:02.400000Z", "end": "2026-03-01T10:15:06.000000Z",
     "duration_s": 3.6, "score": 0.8731, "segment": 0, "file": null,
     "frames": [1812, 1813, ...], "positions": [1812, 1813, ...],
     "times": ["2026-03-01T10:15:02.400000Z", ...], "boxes": [[412.0, 96.5, 470.25, 260.0], ...],
     "clip": "clips/gate_20260301T101500.000Z_w00181.mp4", "clips": [...], "windows": [181, 182],
     "track_id": 3}

``frames`` are the source's running frame indices, ``positions`` the frame numbers inside the
segment (for a file: its frame index, to find the boxes in the original export), ``times``
the UTC wall clock of each frame, and ``boxes`` ``[x1, y1, x2, y2]`` pixels of the original
frame. ``end`` is exclusive (the end of the last frame). On ``open`` and ``update`` lines the
lists (``frames`` ... ``boxes``, ``windows``, ``clips``) hold what was added since the
event's previous line; a ``close`` line holds the whole tube. ``previous`` names the event
this one continues (a happening longer than the longest event is split).

Example:
    >>> from datetime import datetime, timezone
    >>> e = Event(source_id="gate", query="a person", start=datetime(2026, 3, 1, tzinfo=timezone.utc),
    ...           end=datetime(2026, 3, 1, 0, 0, 1, tzinfo=timezone.utc), score=0.9, frames=(0,),
    ...           positions=(0,), times=(datetime(2026, 3, 1, tzinfo=timezone.utc),), boxes=((1, 2, 3, 4),))
    >>> Event.from_dict(e.to_dict()) == e
    True
    >>> e.to_dict()["schema_version"], e.state, e.revision
    (1, 'close', 0)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tubescope.errors import ValidationError
from tubescope.integrations.cctv.sources.base import isoformat_utc
from tubescope.integrations.cctv.windows import Window
from tubescope.types import GroundingResult
from tubescope.types.schema import SCHEMA_VERSION, check_schema_version

__all__ = ["Event", "events_from_results", "STATES", "CLOSE_REASONS"]

#: The states of an event line, in the order they are written.
STATES = ("open", "update", "close")
#: Why an event was closed: the target was gone (``ended``), its file or connection ended
#: (``segment``), it reached the longest event (``max_event``, continued by a new event), or
#: the watcher stopped (``stopped``).
CLOSE_REASONS = ("ended", "segment", "max_event", "stopped")

# fields every line has had since the first release
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
# fields added later (absent from older files: their lines are complete, closed events)
_LIFECYCLE = ("schema_version", "state", "revision", "reason", "previous")


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
    state: str = "close"
    revision: int = 0
    reason: str | None = None
    previous: str | None = None

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
        if self.state not in STATES:
            raise ValidationError(
                f"expected one of {', '.join(STATES)}, got {self.state!r}", "state"
            )
        if (
            isinstance(self.revision, bool)
            or not isinstance(self.revision, int)
            or self.revision < 0
        ):
            raise ValidationError(f"expected an integer >= 0, got {self.revision!r}", "revision")
        if self.reason is not None and (self.state != "close" or self.reason not in CLOSE_REASONS):
            raise ValidationError(
                f"expected null, or on a close line one of {', '.join(CLOSE_REASONS)}; got {self.reason!r}",
                "reason",
            )
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
            "schema_version": SCHEMA_VERSION,
            "event_id": self.event_id,
            "state": self.state,
            "revision": self.revision,
            "reason": self.reason,
            "previous": self.previous,
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
        """Read an event line back from its JSON object (unknown or missing fields raise).

        Lines written before the lifecycle fields existed read as closed events, revision 0.
        """
        if not isinstance(data, dict):
            raise ValidationError(f"expected an object, got {type(data).__name__}", "event")
        check_schema_version(data, "event")
        missing = [k for k in _FIELDS if k not in data]
        unknown = [k for k in data if k not in _FIELDS and k not in _LIFECYCLE]
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
            state=data.get("state", "close"),
            revision=data.get("revision", 0),
            reason=data.get("reason"),
            previous=data.get("previous"),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Event({self.event_id} {self.state}#{self.revision}, {self.source_id!r}, {self.query!r}, "
            f"{isoformat_utc(self.start)} +{self.duration:.2f}s, score={self.score:.3f}, "
            f"boxes={len(self.boxes)}, clip={self.clip!r})"
        )


def events_from_results(
    window: Window, results: Sequence[GroundingResult], *, min_score: float
) -> list[tuple[Event, GroundingResult]]:
    """Turn a window's grounding results into findings (those with a tube scoring >= ``min_score``).

    Returns ``(event, result)`` pairs, the result kept for clip rendering: each event is what
    one window saw of one query, before :class:`~tubescope.integrations.cctv.EventTracker`
    joins the windows of a happening. Tube frames are window frame numbers; events carry
    source frame indices and wall clocks.
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
