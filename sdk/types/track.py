"""The :class:`Track`: one candidate object over time (a proposal the engine chooses among).

**Where a track exists.** A track is a list of *sightings* (``frames`` with their boxes and
optional masks) and, optionally, of frames where its source saw the object *absent*
(``absent``: the official proposal format's zero box / empty mask). Consecutive sightings with
no absent mark between them form a *run*; the track exists on every frame from the first to
the last sighting of each run (boxes interpolated in between) and nowhere else: not before its
first or after its last sighting, and not between a sighting and an absent mark. Nothing is
extrapolated. README "Tube JSON" and docs/method.md ("Absent frames") say how this reaches the
tube and the rendering.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tubescope.errors import ValidationError
from tubescope.types.boxseq import (
    check_boxes,
    check_frames,
    check_keys,
    check_optional_float,
    interpolate_boxes,
    readonly,
)
from tubescope.types.tube import Tube, check_track_id

__all__ = ["Track", "RLE", "TRACK_JSON_FIELDS"]

#: A COCO run-length-encoded mask: ``{"size": [height, width], "counts": str | list[int]}``.
RLE = Mapping[str, Any]

TRACK_JSON_FIELDS = ("track_id", "frames", "boxes", "masks", "label", "scores", "absent")


def check_rle(value: Any, field_name: str) -> dict[str, Any] | None:
    """Validate one COCO RLE mask (or None for a frame without a mask)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"size", "counts"}:
        raise ValidationError('expected a COCO RLE {"size": [h, w], "counts": ...} or null', field_name)
    size = value["size"]
    if (
        not isinstance(size, Sequence)
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size)
    ):
        raise ValidationError(f"size must be [height, width] positive integers, got {size!r}", field_name)
    counts = value["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        pass
    elif isinstance(counts, Sequence) and all(isinstance(v, (int, np.integer)) and v >= 0 for v in counts):
        if sum(int(v) for v in counts) != int(size[0]) * int(size[1]):
            raise ValidationError("uncompressed counts do not add up to height*width", field_name)
        counts = [int(v) for v in counts]
    else:
        raise ValidationError("counts must be a compressed string or a list of run lengths", field_name)
    return {"size": [int(size[0]), int(size[1])], "counts": counts}


@dataclass(frozen=True, eq=False)
class Track:
    """A candidate object: per-frame boxes (and optional COCO-RLE masks) over the frames it was seen.

    Frames are 0-based indices of the original video, strictly increasing. ``scores`` are
    per-frame detector confidences. ``absent`` lists frames where the source saw the object
    absent (strictly increasing, none of them a sighting); the module docstring says where the
    track exists.

    Example:
        >>> from tubescope import Track
        >>> track = Track(7, frames=[0, 10], boxes=[[0, 0, 10, 10], [10, 0, 20, 10]], label="person")
        >>> track.box_at(5).tolist()  # interpolated between sightings
        [5.0, 0.0, 15.0, 10.0]
        >>> track.to_tube(2, 6).box_at(2).tolist()
        [2.0, 0.0, 12.0, 10.0]
        >>> gone = Track(8, frames=[0, 10, 30], boxes=[[0, 0, 4, 4]] * 3, absent=[20])
        >>> gone.runs, gone.box_at(15) is None, gone.box_at(30).tolist()
        (((0, 10), (30, 30)), True, [0.0, 0.0, 4.0, 4.0])
    """

    track_id: int | str
    frames: np.ndarray
    boxes: np.ndarray
    masks: tuple[RLE | None, ...] | None = None
    label: str | None = None
    scores: np.ndarray | None = None
    absent: np.ndarray | None = None

    def __post_init__(self) -> None:
        track_id = check_track_id(self.track_id)
        if track_id is None:
            raise ValidationError("a track needs an id", "track_id")
        frames = check_frames(self.frames)
        if len(frames) == 0:
            raise ValidationError("a track needs at least one frame", "frames")
        boxes = check_boxes(self.boxes, len(frames))
        masks = self.masks
        if masks is not None:
            if isinstance(masks, (str, bytes, Mapping)) or len(masks) != len(frames):
                raise ValidationError(f"expected one mask (or null) per frame ({len(frames)})", "masks")
            masks = tuple(check_rle(m, f"masks[{i}]") for i, m in enumerate(masks))
        if self.label is not None and not isinstance(self.label, str):
            raise ValidationError(f"expected a string, got {self.label!r}", "label")
        scores = self.scores
        if scores is not None:
            values = [check_optional_float(s, f"scores[{i}]") for i, s in enumerate(scores)]
            if len(values) != len(frames) or any(v is None for v in values):
                raise ValidationError(f"expected one number per frame ({len(frames)})", "scores")
            scores = readonly(np.asarray(values, dtype=np.float64))
        absent = self.absent
        if absent is not None:
            absent = check_frames(absent, "absent")
            both = np.intersect1d(absent, frames)
            if len(both):
                raise ValidationError(f"frame {int(both[0])} is both a sighting and absent", "absent")
            if not len(absent):
                absent = None
        for name, value in (
            ("track_id", track_id),
            ("frames", frames),
            ("boxes", boxes),
            ("masks", masks),
            ("scores", scores),
            ("absent", absent),
        ):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_runs", _runs(frames, absent))

    # ------------------------------------------------------------------ queries
    @property
    def first_frame(self) -> int:
        return int(self.frames[0])

    @property
    def last_frame(self) -> int:
        return int(self.frames[-1])

    @property
    def runs(self) -> tuple[tuple[int, int], ...]:
        """The inclusive ``(first, last)`` frame ranges where the track exists, in order."""
        return tuple((int(a), int(b)) for a, b in self._runs)

    def run_index(self, frames: Sequence[int] | np.ndarray) -> np.ndarray:
        """``(k,)`` int: the index into :attr:`runs` of the run holding each frame, -1 where
        the track does not exist."""
        query = np.asarray(frames, dtype=np.int64)
        starts, ends = self._runs[:, 0], self._runs[:, 1]
        index = np.searchsorted(starts, query, side="right") - 1
        inside = index >= 0
        inside[inside] = query[inside] <= ends[index[inside]]
        return np.where(inside, index, -1)

    def present_at(self, frames: Sequence[int] | np.ndarray) -> np.ndarray:
        """``(k,)`` bool: whether the track exists on each frame (see the module docstring)."""
        return self.run_index(frames) >= 0

    def run_of(self, frame: int) -> tuple[int, int] | None:
        """The run ``(first, last)`` that holds ``frame``, or None where the track is absent."""
        index = int(self.run_index([frame])[0])
        return None if index < 0 else self.runs[index]

    def box_at(self, frame: int) -> np.ndarray | None:
        """The box on ``frame``, interpolated between sightings; None where the track is absent."""
        if not self.present_at([frame])[0]:
            return None
        return interpolate_boxes(self.frames, self.boxes, np.array([frame]))[0]

    def boxes_at(self, frames: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes on many frames at once: ``(boxes (k, 4), valid (k,))``.

        ``valid`` is False where the track is absent (those rows hold an interpolated or the
        nearest box, to be ignored).
        """
        query = np.asarray(frames, dtype=np.int64)
        return interpolate_boxes(self.frames, self.boxes, query), self.present_at(query)

    def mask_at(self, frame: int) -> np.ndarray | None:
        """The decoded boolean mask ``(h, w)`` on a frame with a mask, else None."""
        if self.masks is None:
            return None
        pos = int(np.searchsorted(self.frames, frame))
        if pos == len(self.frames) or self.frames[pos] != frame or self.masks[pos] is None:
            return None
        return _decode(self.masks[pos])

    def mask_near(self, frame: int) -> np.ndarray | None:
        """A boolean mask on ``frame``: its own, or the nearest mask keyframe's moved with the box.

        The nearest sighting with a mask in the same run (the earlier one on a tie) is mapped
        onto ``frame`` by the axis-aligned scaling and shift that takes its box to the
        (interpolated) box on ``frame``. None where the track is absent, has no masks, or has
        no mask in that run.

        Example:
            >>> import numpy as np
            >>> m = np.zeros((8, 8), bool); m[0:2, 0:2] = True
            >>> t = Track(0, frames=[0, 4], boxes=[[0, 0, 2, 2], [4, 4, 6, 6]],
            ...           masks=[Track.encode_mask(m), None])
            >>> np.argwhere(t.mask_near(2)).tolist()  # the box moved to (2, 2)-(4, 4)
            [[2, 2], [2, 3], [3, 2], [3, 3]]
        """
        if self.masks is None:
            return None
        run = self.run_of(int(frame))
        if run is None:
            return None
        own = self.mask_at(int(frame))
        if own is not None:
            return own
        candidates = [
            k
            for k, (f, m) in enumerate(zip(self.frames, self.masks))
            if m is not None and run[0] <= f <= run[1]
        ]
        if not candidates:
            return None
        k = min(candidates, key=lambda i: (abs(int(self.frames[i]) - int(frame)), int(self.frames[i])))
        source = _decode(self.masks[k])
        return _move_mask(source, self.boxes[k], interpolate_boxes(self.frames, self.boxes, np.array([frame]))[0])

    @staticmethod
    def encode_mask(mask: np.ndarray) -> dict[str, Any]:
        """Encode a boolean ``(h, w)`` mask as compressed COCO RLE (for :attr:`masks`)."""
        import supervision as sv

        mask = np.asarray(mask, dtype=bool)
        return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": sv.mask_to_rle(mask, compressed=True)}

    def to_tube(
        self,
        start_frame: int,
        end_frame: int,
        *,
        fps: float | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        score: float | None = None,
    ) -> Tube:
        """The tube of this track over ``[start_frame, end_frame)``.

        Every frame of the span where the track exists gets a box (interpolated between
        sightings); the frames of the span where it does not are the tube's ``gaps`` (no box
        there, see :class:`~tubescope.types.Tube`).

        Example:
            >>> t = Track(0, frames=[4, 6], boxes=[[0, 0, 2, 2], [2, 0, 4, 2]])
            >>> tube = t.to_tube(2, 9)
            >>> tube.frames.tolist(), tube.gaps.tolist(), tube.box_at(3) is None
            ([4, 5, 6], [[2, 4], [7, 9]], True)
        """
        span = np.arange(start_frame, max(end_frame, start_frame), dtype=np.int64)
        present = self.present_at(span)
        frames = span[present]
        boxes = interpolate_boxes(self.frames, self.boxes, frames) if len(frames) else np.zeros((0, 4))
        return Tube(
            start_frame,
            end_frame,
            frames=frames,
            boxes=boxes,
            fps=fps,
            start_time=start_time,
            end_time=end_time,
            score=score,
            track_id=self.track_id,
            gaps=_ranges(span[~present]),
        )

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The Track JSON object: ``{"track_id", "frames", "boxes", "masks", "label", "scores"}``
        plus ``"absent"`` when the track has absent marks."""
        data = {
            "track_id": self.track_id,
            "frames": self.frames.tolist(),
            "boxes": self.boxes.tolist(),
            "masks": None if self.masks is None else [None if m is None else dict(m) for m in self.masks],
            "label": self.label,
            "scores": None if self.scores is None else self.scores.tolist(),
        }
        if self.absent is not None:
            data["absent"] = self.absent.tolist()
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Track:
        """Build a track from its JSON object; unknown or missing fields raise ValidationError."""
        check_keys(data, TRACK_JSON_FIELDS[:3], TRACK_JSON_FIELDS[3:], "Track")
        return cls(**{name: data[name] for name in TRACK_JSON_FIELDS if name in data})

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str | bytes) -> Track:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValidationError(f"not valid JSON ({err})", "Track") from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Track):
            return NotImplemented
        return (
            self.track_id == other.track_id
            and np.array_equal(self.frames, other.frames)
            and np.array_equal(self.boxes, other.boxes)
            and self.masks == other.masks
            and self.label == other.label
            and _same_optional(self.absent, other.absent)
            and (
                self.scores is other.scores
                or (self.scores is not None and other.scores is not None and np.array_equal(self.scores, other.scores))
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        absent = "" if self.absent is None else f", absent={len(self.absent)}"
        return (
            f"Track(id={self.track_id!r}, frames=[{self.first_frame}..{self.last_frame}] "
            f"({len(self.frames)}), label={self.label!r}, masks={self.masks is not None}{absent})"
        )


def _same_optional(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def _runs(frames: np.ndarray, absent: np.ndarray | None) -> np.ndarray:
    """``(n, 2)`` inclusive runs of consecutive sightings with no absent mark between them."""
    if absent is None or not len(absent):
        return np.array([[frames[0], frames[-1]]], dtype=np.int64)
    # each sighting's run number: how many absent marks precede it
    cut = np.searchsorted(absent, frames)
    breaks = np.nonzero(np.diff(cut))[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(frames) - 1]])
    return np.stack([frames[starts], frames[ends]], axis=1).astype(np.int64)


def _ranges(frames: np.ndarray) -> np.ndarray:
    """Half-open ``[start, end)`` ranges of consecutive frames, ``(n, 2)``."""
    if not len(frames):
        return np.zeros((0, 2), dtype=np.int64)
    breaks = np.nonzero(np.diff(frames) > 1)[0]
    starts = np.concatenate([[frames[0]], frames[breaks + 1]])
    ends = np.concatenate([frames[breaks] + 1, [frames[-1] + 1]])
    return np.stack([starts, ends], axis=1).astype(np.int64)


def _decode(rle: RLE) -> np.ndarray:
    import supervision as sv

    height, width = rle["size"]
    return sv.rle_to_mask(rle["counts"], (width, height))


def _move_mask(mask: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``mask`` mapped by the per-axis scaling and shift that takes box ``source`` to ``target``."""
    import cv2

    sw, sh = max(source[2] - source[0], 1e-6), max(source[3] - source[1], 1e-6)
    ax = (target[2] - target[0]) / sw
    ay = (target[3] - target[1]) / sh
    matrix = np.array([[ax, 0.0, target[0] - ax * source[0]], [0.0, ay, target[1] - ay * source[1]]])
    height, width = mask.shape
    moved = cv2.warpAffine(
        mask.astype(np.uint8), matrix, (width, height), flags=cv2.INTER_NEAREST, borderValue=0
    )
    return moved.astype(bool)
