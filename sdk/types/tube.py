"""The :class:`Tube`: a half-open frame span plus one box per frame of the grounded target."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from tubescope.errors import ValidationError
from tubescope.types.boxseq import (
    check_boxes,
    check_frames,
    check_int,
    check_keys,
    check_optional_float,
    interpolate_boxes,
)

if TYPE_CHECKING:  # supervision is only imported when detections are asked for
    import supervision as sv

__all__ = ["Tube", "TUBE_JSON_FIELDS"]

def check_track_id(value: Any, field_name: str = "track_id") -> int | str | None:
    """Track ids are ints, strings or None."""
    if value is None or isinstance(value, str):
        return value
    return check_int(value, field_name)


@dataclass(frozen=True, eq=False)
class Tube:
    """Where and when the target is: frames ``[start_frame, end_frame)`` and boxes on them.

    Frames are 0-based indices into the original video; boxes are ``[x1, y1, x2, y2]`` float
    pixels of the original frame. ``frames`` lists the frames that carry a box (strictly
    increasing, all inside the span); they need not cover every frame of the span:
    :meth:`box_at` interpolates between them. ``gaps`` are half-open ``[start, end)`` ranges
    of the span where the target is absent (its track does not exist there,
    :meth:`tubescope.Track.to_tube`): no box there, and nothing is interpolated or held into
    them. Instances are immutable and validated.

    Example:
        >>> from tubescope import Tube
        >>> tube = Tube(10, 20, frames=[10, 14], boxes=[[0, 0, 10, 10], [4, 0, 14, 10]], fps=25.0)
        >>> tube.box_at(12).tolist()
        [2.0, 0.0, 12.0, 10.0]
        >>> tube.box_at(20) is None  # the end is exclusive
        True
        >>> Tube.from_json(tube.to_json()) == tube
        True
        >>> away = Tube(0, 10, frames=[0, 9], boxes=[[0, 0, 2, 2]] * 2, gaps=[[3, 6]])
        >>> away.box_at(2) is not None, away.box_at(4) is None
        (True, True)
    """

    start_frame: int
    end_frame: int
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    fps: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    score: float | None = None
    track_id: int | str | None = None
    gaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    def __post_init__(self) -> None:
        start = check_int(self.start_frame, "start_frame")
        end = check_int(self.end_frame, "end_frame")
        if start < 0:
            raise ValidationError(f"must be >= 0, got {start}", "start_frame")
        if end <= start:
            raise ValidationError(
                f"span [{start}, {end}) is empty; end_frame is exclusive and must exceed "
                "start_frame",
                "end_frame",
            )
        frames = check_frames(self.frames)
        boxes = check_boxes(self.boxes, len(frames))
        if len(frames) and (frames[0] < start or frames[-1] >= end):
            bad = frames[0] if frames[0] < start else frames[-1]
            raise ValidationError(f"frame {bad} lies outside the span [{start}, {end})", "frames")
        fps = check_optional_float(self.fps, "fps")
        if fps is not None and fps <= 0:
            raise ValidationError(f"must be positive, got {fps}", "fps")
        start_time = check_optional_float(self.start_time, "start_time")
        end_time = check_optional_float(self.end_time, "end_time")
        if start_time is not None and end_time is not None and end_time < start_time:
            raise ValidationError(f"end_time {end_time} precedes start_time {start_time}", "end_time")
        gaps = _check_gaps(self.gaps, start, end, frames)
        checked = dict(
            start_frame=start,
            end_frame=end,
            frames=frames,
            boxes=boxes,
            fps=fps,
            start_time=start_time,
            end_time=end_time,
            score=check_optional_float(self.score, "score"),
            track_id=check_track_id(self.track_id),
            gaps=gaps,
        )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ queries
    @property
    def span(self) -> tuple[int, int]:
        """``(start_frame, end_frame)``, end exclusive."""
        return self.start_frame, self.end_frame

    @property
    def num_frames(self) -> int:
        """Number of video frames in the span."""
        return self.end_frame - self.start_frame

    def __contains__(self, frame: object) -> bool:
        return isinstance(frame, (int, np.integer)) and self.start_frame <= frame < self.end_frame

    def in_gap(self, frames: np.ndarray) -> np.ndarray:
        """``(k,)`` bool: which ``frames`` lie in one of the :attr:`gaps`."""
        frames = np.asarray(frames, dtype=np.int64)
        if not len(self.gaps):
            return np.zeros(frames.shape, dtype=bool)
        index = np.searchsorted(self.gaps[:, 0], frames, side="right") - 1
        inside = index >= 0
        out = np.zeros(frames.shape, dtype=bool)
        out[inside] = frames[inside] < self.gaps[index[inside], 1]
        return out

    def box_at(self, frame: int) -> np.ndarray | None:
        """The box on ``frame``, or None when the frame lies outside the span or in a gap.

        Between two known frames the box is interpolated linearly; before the first known
        frame (or after the last) inside the span, the nearest known box is held. A tube with
        no boxes returns None everywhere.

        Example:
            >>> Tube(0, 4, frames=[1, 3], boxes=[[0, 0, 2, 2], [2, 0, 4, 2]]).box_at(2).tolist()
            [1.0, 0.0, 3.0, 2.0]
        """
        if frame not in self or len(self.frames) == 0 or self.in_gap(np.array([frame]))[0]:
            return None
        return interpolate_boxes(self.frames, self.boxes, np.array([frame]))[0]

    def dense(self) -> Tube:
        """A copy with one box on every frame of the span outside the gaps (as :meth:`box_at`)."""
        if len(self.frames) == 0:
            return self
        frames = np.arange(self.start_frame, self.end_frame, dtype=np.int64)
        frames = frames[~self.in_gap(frames)]
        return self._replace(frames=frames, boxes=interpolate_boxes(self.frames, self.boxes, frames))

    def _replace(self, **changes: Any) -> Tube:
        values = {name: getattr(self, name) for name in TUBE_JSON_FIELDS}
        values.update(changes)
        return Tube(**values)

    # ------------------------------------------------------------------ supervision
    def to_detections(self, frame: int) -> sv.Detections:
        """The tube's box on ``frame`` as ``supervision.Detections`` (empty outside the span).

        ``confidence`` carries :attr:`score` and ``tracker_id`` carries an integer
        :attr:`track_id`; ``data["track_id"]`` always holds the id as given.

        Example:
            >>> tube = Tube(0, 2, frames=[0, 1], boxes=[[0, 0, 5, 5], [1, 1, 6, 6]], score=0.9)
            >>> len(tube.to_detections(1)), len(tube.to_detections(2))
            (1, 0)
        """
        import supervision as sv

        box = self.box_at(frame)
        if box is None:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=box[None, :].astype(np.float32),
            confidence=None if self.score is None else np.array([self.score], dtype=np.float32),
            tracker_id=(
                np.array([self.track_id], dtype=int) if isinstance(self.track_id, int) else None
            ),
            data={"track_id": np.array([self.track_id], dtype=object)},
            metadata={"frame_index": int(frame)},
        )

    def iter_detections(self) -> Iterator[tuple[int, sv.Detections]]:
        """Yield ``(frame, detections)`` for every frame of the span, in order."""
        for frame in range(self.start_frame, self.end_frame):
            yield frame, self.to_detections(frame)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The public Tube JSON object (plain Python types); ``gaps`` only when there are some."""
        values = {name: getattr(self, name) for name in TUBE_JSON_FIELDS}
        if not len(self.gaps):
            del values["gaps"]
        return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls, data: Any) -> Tube:
        """Build a tube from its JSON object; unknown or missing fields raise ValidationError."""
        check_keys(data, TUBE_JSON_REQUIRED, TUBE_JSON_FIELDS[len(TUBE_JSON_REQUIRED):], "Tube")
        return cls(**{name: data[name] for name in TUBE_JSON_FIELDS if name in data})

    def to_json(self, **kwargs: Any) -> str:
        """Serialise to a JSON string (``kwargs`` go to :func:`json.dumps`)."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str | bytes) -> Tube:
        """Parse a JSON string written by :meth:`to_json` (or by hand, per the schema)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValidationError(f"not valid JSON ({err})", "Tube") from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ equality
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tube):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, name), getattr(other, name))
            if name in ("frames", "boxes", "gaps")
            else getattr(self, name) == getattr(other, name)
            for name in TUBE_JSON_FIELDS
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Tube(span=[{self.start_frame}, {self.end_frame}), boxes={len(self.frames)}, "
            f"fps={self.fps}, score={self.score}, track_id={self.track_id!r})"
        )


def _check_gaps(value: Any, start: int, end: int, frames: np.ndarray) -> np.ndarray:
    """Gaps as a read-only ``(n, 2)`` int64 array: sorted, disjoint, inside the span, boxless."""
    if value is None:
        value = []
    try:
        gaps = np.asarray(value, dtype=np.float64).reshape(-1, 2) if len(value) else np.zeros((0, 2))
    except (TypeError, ValueError):
        raise ValidationError(f"expected a list of [start, end] frame ranges, got {value!r}", "gaps") from None
    if not np.isfinite(gaps).all() or (gaps != np.round(gaps)).any():
        raise ValidationError("frame ranges must hold integers", "gaps")
    gaps = gaps.astype(np.int64)
    for i, (a, b) in enumerate(gaps.tolist()):
        if not start <= a < b <= end:
            raise ValidationError(f"[{a}, {b}) is empty or outside the span [{start}, {end})", f"gaps[{i}]")
        if i and a < gaps[i - 1, 1]:
            raise ValidationError(f"[{a}, {b}) overlaps or precedes the previous range", f"gaps[{i}]")
    if len(gaps) and len(frames):
        index = np.searchsorted(gaps[:, 0], frames, side="right") - 1
        inside = (index >= 0) & (frames < gaps[np.maximum(index, 0), 1])
        if inside.any():
            raise ValidationError(f"frame {int(frames[inside][0])} carries a box inside a gap", "gaps")
    gaps.setflags(write=False)
    return gaps


#: Fields of the public Tube JSON schema, in the order they are written: the dataclass fields.
TUBE_JSON_FIELDS = tuple(f.name for f in fields(Tube))
#: the fields a Tube JSON object must have (the rest may be missing or null).
TUBE_JSON_REQUIRED = TUBE_JSON_FIELDS[:4]
