"""Validation and interpolation of box sequences: frame indices plus one xyxy box per frame.

Shared by :class:`~tubescope.types.Track` and :class:`~tubescope.types.Tube`. Arrays returned
here are fresh, read-only copies, so the immutable types that hold them stay immutable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tubescope.errors import ValidationError
from tubescope.plural import counted

__all__ = [
    "check_frames",
    "check_boxes",
    "check_int",
    "check_optional_float",
    "check_keys",
    "interpolate_boxes",
    "readonly",
]


def readonly(array: np.ndarray) -> np.ndarray:
    """Return ``array`` (already a private copy) marked read-only."""
    array.setflags(write=False)
    return array


def check_int(value: Any, field: str) -> int:
    """Return ``value`` as an int; floats must be integral, bools are refused."""
    if isinstance(value, (bool, np.bool_)):
        raise ValidationError(f"expected an integer, got {value!r}", field)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise ValidationError(f"expected an integer, got {value!r}", field)


def check_optional_float(value: Any, field: str) -> float | None:
    """Return ``value`` as a finite float, or None."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValidationError(f"expected a number or null, got {value!r}", field)
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"must be finite, got {number!r}", field)
    return number


def check_frames(values: Any, field: str = "frames", *, strict: bool = True) -> np.ndarray:
    """Validate frame indices: 1-D, non-negative integers, strictly increasing.

    With ``strict=False`` repeated indices are allowed (non-decreasing).

    Returns a read-only ``int64`` copy.
    """
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise ValidationError(f"not a list of frame indices ({err})", field) from None
    if raw.size == 0:
        return readonly(np.zeros(0, dtype=np.int64))
    if raw.ndim != 1:
        raise ValidationError(f"expected a flat list of frame indices, got shape {raw.shape}", field)
    if raw.dtype == bool or not (
        np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)
    ):
        raise ValidationError(f"frame indices must be integers, got dtype {raw.dtype}", field)
    if np.issubdtype(raw.dtype, np.floating):
        bad = ~np.isfinite(raw) | (raw != np.round(raw))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValidationError(f"frame index {float(raw[i])!r} is not an integer", f"{field}[{i}]")
    frames = raw.astype(np.int64)
    if (frames < 0).any():
        i = int(np.argmax(frames < 0))
        raise ValidationError(f"frame index {frames[i]} is negative", f"{field}[{i}]")
    bad_steps = np.diff(frames) <= 0 if strict else np.diff(frames) < 0
    if bad_steps.any():
        i = int(np.argmax(bad_steps)) + 1
        order = "strictly increasing" if strict else "non-decreasing"
        raise ValidationError(
            f"frames must be {order}, got {frames[i - 1]} then {frames[i]}",
            f"{field}[{i}]",
        )
    return readonly(frames)


def check_boxes(values: Any, count: int, field: str = "boxes") -> np.ndarray:
    """Validate ``count`` xyxy boxes: finite, ``x1 <= x2`` and ``y1 <= y2``.

    Returns a read-only ``float64`` array of shape ``(count, 4)``.
    """
    try:
        boxes = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValidationError(f"boxes must be numbers [x1, y1, x2, y2] ({err})", field) from None
    if boxes.size == 0 and count == 0:
        return readonly(np.zeros((0, 4), dtype=np.float64))
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValidationError(f"expected boxes of shape (n, 4), got {boxes.shape}", field)
    if boxes.shape[0] != count:
        raise ValidationError(f"{counted(boxes.shape[0], 'box', 'boxes')} for {counted(count, 'frame')}", field)
    finite = np.isfinite(boxes).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValidationError(f"box {boxes[i].tolist()} is not finite", f"{field}[{i}]")
    inverted = (boxes[:, 0] > boxes[:, 2]) | (boxes[:, 1] > boxes[:, 3])
    if inverted.any():
        i = int(np.argmax(inverted))
        raise ValidationError(
            f"box {boxes[i].tolist()} has x1 > x2 or y1 > y2 (boxes are [x1, y1, x2, y2])",
            f"{field}[{i}]",
        )
    return readonly(boxes.copy())


def check_keys(
    data: Any, required: Sequence[str], optional: Sequence[str], what: str
) -> Mapping[str, Any]:
    """Check that ``data`` is a mapping with all ``required`` keys and no unknown key."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"{what} JSON must be an object, got {type(data).__name__}")
    missing = [key for key in required if key not in data]
    if missing:
        raise ValidationError(f"{what} JSON lacks required field(s) {', '.join(missing)}")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise ValidationError(f"{what} JSON has unknown field(s) {', '.join(unknown)}")
    return data


def interpolate_boxes(frames: np.ndarray, boxes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Linearly interpolate ``boxes`` known at ``frames`` to the ``query`` frames.

    Query frames before the first known frame take the first box, those after the last take
    the last box (the caller decides which frames are valid). Returns ``(len(query), 4)``.
    """
    query = np.asarray(query, dtype=np.float64)
    if len(frames) == 0:
        raise ValidationError("no known boxes to interpolate from")
    if len(frames) == 1:
        return np.repeat(boxes[:1], len(query), axis=0)
    out = np.empty((len(query), 4), dtype=np.float64)
    for k in range(4):
        out[:, k] = np.interp(query, frames, boxes[:, k])
    return out
