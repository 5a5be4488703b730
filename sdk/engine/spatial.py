"""Spatial selection: which candidate track the relative attention map points at.

On each sampled frame a track occupies a :class:`FrameShape`: nothing (it does not exist
there, see :class:`tubescope.Track`), a binary mask, or only a box (used as a mask). Its
*coverage* turns that shape into weights on the token grid, where each cell is the rectangle
of the original frame the model saw through it (:mod:`tubescope.engine.geometry`):

* ``"area"``: the fraction of each cell the shape covers (exact area integrals), so a target
  smaller than a cell counts wherever it lies in the cell;
* ``"centre"``: the binary mask read bilinearly at the cell centres, the official
  ``F.interpolate(mask, size=(rows, cols), mode="bilinear", align_corners=False)``: a target
  that does not reach a cell centre's neighbourhood gets nothing there.

A track's score is the maximum over frames and cells of ``map x coverage`` (the paper's Eq. 2,
"the maximum attention inside the track"); the best score wins (the first on ties). Which
masks a sampled frame uses: its own, or the nearest mask keyframe of the track moved with the
box (:meth:`tubescope.Track.mask_near`); docs/method.md ("Spatial grounding") has the details.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tubescope.engine.geometry import GridGeometry
from tubescope.types import Track

__all__ = [
    "FrameShape",
    "track_shapes",
    "box_coverage",
    "mask_coverage",
    "centre_coverage",
    "shape_coverage",
    "track_coverage",
    "score_tracks",
    "box_pixels",
]


@dataclass(frozen=True)
class FrameShape:
    """What a track occupies on one frame: ``box`` (xyxy pixels) and ``mask`` (bool, or None
    to use the box); ``box is None`` where the track does not exist."""

    box: np.ndarray | None = None
    mask: np.ndarray | None = None

    @property
    def present(self) -> bool:
        return self.box is not None


def track_shapes(track: Track, frames: Sequence[int], *, nearest_masks: bool = True) -> list[FrameShape]:
    """The track's :class:`FrameShape` on each of ``frames``.

    A frame with its own mask uses it; with ``nearest_masks`` a frame between mask keyframes
    uses the nearest one moved with the interpolated box (:meth:`tubescope.Track.mask_near`),
    otherwise the box alone.

    Example:
        >>> t = Track(0, frames=[2, 6], boxes=[[0, 0, 4, 4], [4, 0, 8, 4]])
        >>> [s.present for s in track_shapes(t, [0, 4])], track_shapes(t, [4])[0].box.tolist()
        ([False, True], [2.0, 0.0, 6.0, 4.0])
    """
    frames = np.asarray(frames, dtype=np.int64)
    boxes, valid = track.boxes_at(frames)
    shapes = []
    for frame, box, ok in zip(frames.tolist(), boxes, valid):
        if not ok:
            shapes.append(FrameShape())
            continue
        mask = None
        if track.masks is not None:
            mask = track.mask_near(frame) if nearest_masks else track.mask_at(frame)
        shapes.append(FrameShape(box=np.asarray(box, dtype=np.float64), mask=mask))
    return shapes


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


def box_pixels(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """The pixel rows ``[r0, r1)`` and columns ``[c0, c1)`` of a box used as a mask: the pixels
    whose centre lies inside it (clipped to the frame).

    Example:
        >>> box_pixels(np.array([0.4, 1.6, 3.5, 4.0]), 10, 10)
        (2, 4, 0, 3)
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    r0, r1 = int(np.ceil(y1 - 0.5)), int(np.ceil(y2 - 0.5))
    c0, c1 = int(np.ceil(x1 - 0.5)), int(np.ceil(x2 - 0.5))
    return max(r0, 0), min(max(r1, 0), height), max(c0, 0), min(max(c1, 0), width)


def centre_coverage(shape: FrameShape, geometry: GridGeometry) -> np.ndarray:
    """The official coverage ``(rows, cols)``: the binary mask (the box as one when there is no
    mask) sampled bilinearly at the cell centres.

    Example:
        >>> geo = GridGeometry(1, 2, 100, 100)  # cell centres at x = 25 and 75
        >>> centre_coverage(FrameShape(box=np.array([0.0, 0.0, 24.0, 100.0])), geo).tolist()
        [[0.0, 0.0]]
        >>> box_coverage(np.array([[0.0, 0.0, 24.0, 100.0]]), geo)[0].tolist()
        [[0.48, 0.0]]
    """
    if not shape.present:
        return np.zeros((geometry.rows, geometry.cols))
    if shape.mask is not None:
        height, width = shape.mask.shape
        ry, rx = geometry.cell_sampling(height, width)
        return ry @ shape.mask.astype(np.float64) @ rx.T
    ry, rx = geometry.cell_sampling(geometry.height, geometry.width)
    r0, r1, c0, c1 = box_pixels(shape.box, geometry.height, geometry.width)
    return np.outer(ry[:, r0:r1].sum(axis=1), rx[:, c0:c1].sum(axis=1))


def shape_coverage(shape: FrameShape, geometry: GridGeometry, rule: str = "area") -> np.ndarray:
    """Coverage ``(rows, cols)`` of one frame's shape by ``rule`` (``"area"`` or ``"centre"``)."""
    if rule == "centre":
        return centre_coverage(shape, geometry)
    if rule != "area":
        raise ValueError(f"unknown coverage rule {rule!r}")
    if not shape.present:
        return np.zeros((geometry.rows, geometry.cols))
    if shape.mask is not None:
        return mask_coverage(shape.mask, geometry)
    return box_coverage(shape.box[None], geometry)[0]


def track_coverage(
    track: Track | Sequence[FrameShape],
    frames: Sequence[int] | None,
    geometry: GridGeometry,
    rule: str = "area",
) -> np.ndarray:
    """Coverage ``(len(frames), rows, cols)`` of a track (or of its shapes) on the given frames.

    A frame with a mask uses it (for a track: its nearest mask keyframe moved with the box);
    otherwise the (interpolated) box; where the track does not exist the coverage is zero.
    """
    shapes = track_shapes(track, frames or []) if isinstance(track, Track) else list(track)
    if not shapes:
        return np.zeros((0, geometry.rows, geometry.cols))
    return np.stack([shape_coverage(s, geometry, rule) for s in shapes])


def score_tracks(frame_map: np.ndarray, coverages: Sequence[np.ndarray]) -> np.ndarray:
    """``max_{t, cell} map x coverage`` per track; ``frame_map`` is ``(frames, rows, cols)``."""
    return np.array([float((frame_map * cov).max()) if cov.size else 0.0 for cov in coverages])
