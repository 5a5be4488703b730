"""The :class:`Track`: one candidate object over time (a proposal the engine chooses among)."""

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

TRACK_JSON_FIELDS = ("track_id", "frames", "boxes", "masks", "label", "scores")


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

    Frames are 0-based indices of the original video, strictly increasing; a frame where the
    object was not seen is simply absent. ``scores`` are per-frame detector confidences.

    Example:
        >>> from tubescope import Track
        >>> track = Track(7, frames=[0, 10], boxes=[[0, 0, 10, 10], [10, 0, 20, 10]], label="person")
        >>> track.box_at(5).tolist()  # interpolated between sightings
        [5.0, 0.0, 15.0, 10.0]
        >>> track.to_tube(2, 6).box_at(2).tolist()
        [2.0, 0.0, 12.0, 10.0]
    """

    track_id: int | str
    frames: np.ndarray
    boxes: np.ndarray
    masks: tuple[RLE | None, ...] | None = None
    label: str | None = None
    scores: np.ndarray | None = None

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
        for name, value in (
            ("track_id", track_id),
            ("frames", frames),
            ("boxes", boxes),
            ("masks", masks),
            ("scores", scores),
        ):
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ queries
    @property
    def first_frame(self) -> int:
        return int(self.frames[0])

    @property
    def last_frame(self) -> int:
        return int(self.frames[-1])

    def box_at(self, frame: int) -> np.ndarray | None:
        """The box on ``frame``, interpolated between sightings; None outside the track's extent."""
        if not self.first_frame <= frame <= self.last_frame:
            return None
        return interpolate_boxes(self.frames, self.boxes, np.array([frame]))[0]

    def boxes_at(self, frames: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes on many frames at once: ``(boxes (k, 4), valid (k,))``.

        ``valid`` is False for frames outside the track's extent (their rows hold the nearest box).
        """
        query = np.asarray(frames, dtype=np.int64)
        valid = (query >= self.first_frame) & (query <= self.last_frame)
        return interpolate_boxes(self.frames, self.boxes, query), valid

    def mask_at(self, frame: int) -> np.ndarray | None:
        """The decoded boolean mask ``(h, w)`` on a frame with a mask, else None."""
        if self.masks is None:
            return None
        pos = int(np.searchsorted(self.frames, frame))
        if pos == len(self.frames) or self.frames[pos] != frame or self.masks[pos] is None:
            return None
        import supervision as sv

        rle = self.masks[pos]
        height, width = rle["size"]
        return sv.rle_to_mask(rle["counts"], (width, height))

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

        Every frame of the span inside the track's extent gets a box (interpolated between
        sightings); frames of the span where the track does not exist get none.
        """
        lo = max(start_frame, self.first_frame)
        hi = min(end_frame, self.last_frame + 1)
        frames = np.arange(lo, hi, dtype=np.int64) if hi > lo else np.zeros(0, dtype=np.int64)
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
        )

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The Track JSON object: ``{"track_id", "frames", "boxes", "masks", "label", "scores"}``."""
        return {
            "track_id": self.track_id,
            "frames": self.frames.tolist(),
            "boxes": self.boxes.tolist(),
            "masks": None if self.masks is None else [None if m is None else dict(m) for m in self.masks],
            "label": self.label,
            "scores": None if self.scores is None else self.scores.tolist(),
        }

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
            and (
                self.scores is other.scores
                or (self.scores is not None and other.scores is not None and np.array_equal(self.scores, other.scores))
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Track(id={self.track_id!r}, frames=[{self.first_frame}..{self.last_frame}] "
            f"({len(self.frames)}), label={self.label!r}, masks={self.masks is not None})"
        )
