"""Spatial selection: which candidate track the relative attention map points at.

Each track's masks (or boxes, when it has none) on the sampled frames become *coverage* maps
on the token grid: the fraction of each cell the object covers, where each cell is the
rectangle of the original frame that the model saw through it (:mod:`tubescope.engine.geometry`:
a centre crop leaves the frame's sides outside every cell). A track's score is the maximum
over frames and cells of ``map x coverage`` (the paper's Eq. 2, "the maximum attention inside
the track"); the best score wins. See README "The method in brief".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tubescope.engine.geometry import GridGeometry
from tubescope.types import Track

__all__ = ["box_coverage", "mask_coverage", "track_coverage", "score_tracks"]


def _overlap(lo: np.ndarray, hi: np.ndarray, edges: np.ndarray, limit: float) -> np.ndarray:
    """Fraction of each interval ``[edges[i], edges[i+1])`` covered by ``[lo, hi)`` clipped to ``[0, limit]``."""
    lo = np.clip(lo, 0.0, limit)
    hi = np.clip(hi, 0.0, limit)
    left = np.maximum(lo[:, None], edges[None, :-1])
    right = np.minimum(hi[:, None], edges[None, 1:])
    return np.clip(right - left, 0, None) / np.diff(edges)[None, :]


def box_coverage(boxes: np.ndarray, geometry: GridGeometry) -> np.ndarray:
    """Area coverage ``(n, rows, cols)`` of ``n`` xyxy pixel boxes (clipped to the frame).

    Example:
        >>> box_coverage(np.array([[0, 0, 50, 100]]), GridGeometry(2, 2, 100, 100))[0].tolist()
        [[1.0, 0.0], [1.0, 0.0]]
        >>> crop = GridGeometry(1, 2, 200, 100, view=(0.25, 0.0, 0.75, 1.0))  # sees x in [50, 150)
        >>> box_coverage(np.array([[0, 0, 50, 100]]), crop)[0].tolist()       # left of the crop
        [[0.0, 0.0]]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ys = _overlap(boxes[:, 1], boxes[:, 3], geometry.y_edges, geometry.height)
    xs = _overlap(boxes[:, 0], boxes[:, 2], geometry.x_edges, geometry.width)
    return ys[:, :, None] * xs[:, None, :]


def _integral_at(integral: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The integral image of a pixel grid at fractional ``(ys, xs)`` (bilinear, exact for pixels)."""
    h, w = integral.shape[0] - 1, integral.shape[1] - 1
    ys = np.clip(ys, 0.0, h)
    xs = np.clip(xs, 0.0, w)
    y0 = np.minimum(np.floor(ys).astype(np.int64), h - 1)
    x0 = np.minimum(np.floor(xs).astype(np.int64), w - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    a = integral[np.ix_(y0, x0)]
    b = integral[np.ix_(y0, x0 + 1)]
    c = integral[np.ix_(y0 + 1, x0)]
    d = integral[np.ix_(y0 + 1, x0 + 1)]
    return a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx


def mask_coverage(mask: np.ndarray, geometry: GridGeometry) -> np.ndarray:
    """Exact area coverage ``(rows, cols)`` of a boolean ``(height, width)`` mask.

    Parts of a cell outside the frame (a padded view) count as uncovered.

    Example:
        >>> mask = np.zeros((4, 4), dtype=bool); mask[:, :1] = True
        >>> mask_coverage(mask, GridGeometry(1, 2, 4, 4)).tolist()
        [[0.5, 0.0]]
    """
    mask = np.asarray(mask)
    integral = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.float64)
    integral[1:, 1:] = np.cumsum(np.cumsum(mask.astype(np.float64), axis=0), axis=1)
    sy = mask.shape[0] / geometry.height
    sx = mask.shape[1] / geometry.width
    at = _integral_at(integral, geometry.y_edges * sy, geometry.x_edges * sx)
    inside = at[1:, 1:] - at[:-1, 1:] - at[1:, :-1] + at[:-1, :-1]
    area = np.diff(geometry.y_edges * sy)[:, None] * np.diff(geometry.x_edges * sx)[None, :]
    return np.clip(inside / area, 0.0, 1.0)


def track_coverage(track: Track, frames: Sequence[int], geometry: GridGeometry) -> np.ndarray:
    """Coverage ``(len(frames), rows, cols)`` of a track on the given video frames.

    A frame with a mask uses it; otherwise the (interpolated) box is used inside the track's
    extent; outside its extent the coverage is zero.
    """
    frames = np.asarray(frames, dtype=np.int64)
    boxes, valid = track.boxes_at(frames)
    coverage = box_coverage(boxes, geometry)
    coverage[~valid] = 0.0
    if track.masks is not None:
        for k, frame in enumerate(frames):
            mask = track.mask_at(int(frame))
            if mask is not None:
                coverage[k] = mask_coverage(mask, geometry)
    return coverage


def score_tracks(frame_map: np.ndarray, coverages: Sequence[np.ndarray]) -> np.ndarray:
    """``max_{t, cell} map x coverage`` per track; ``frame_map`` is ``(frames, rows, cols)``."""
    return np.array([float((frame_map * cov).max()) if cov.size else 0.0 for cov in coverages])
