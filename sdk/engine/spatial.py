"""Spatial selection: which candidate track the relative attention map points at.

Each track's masks (or boxes, when it has none) on the sampled frames become *coverage* maps
on the token grid: the fraction of each cell the object covers. A track's score is the
maximum over frames and cells of ``map x coverage`` (the paper's Eq. 2, "the maximum attention
inside the track"); the best score wins (research/method.md §7). The official code
bilinearly samples the binary mask at the grid resolution; we average over each cell's area,
which is the coverage that sampling approximates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tubescope.types import Track

__all__ = ["box_coverage", "mask_coverage", "track_coverage", "score_tracks"]


def _overlap(lo: np.ndarray, hi: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fraction of each interval ``[edges[i], edges[i+1])`` covered by ``[lo, hi)``, per box."""
    left = np.maximum(lo[:, None], edges[None, :-1])
    right = np.minimum(hi[:, None], edges[None, 1:])
    return np.clip(right - left, 0, None) / np.diff(edges)[None, :]


def box_coverage(boxes: np.ndarray, width: int, height: int, rows: int, cols: int) -> np.ndarray:
    """Coverage ``(n, rows, cols)`` of ``n`` xyxy pixel boxes on a grid over the whole frame.

    Example:
        >>> box_coverage(np.array([[0, 0, 50, 100]]), 100, 100, 2, 2)[0].tolist()
        [[1.0, 0.0], [1.0, 0.0]]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ys = _overlap(boxes[:, 1], boxes[:, 3], np.linspace(0, height, rows + 1))
    xs = _overlap(boxes[:, 0], boxes[:, 2], np.linspace(0, width, cols + 1))
    return ys[:, :, None] * xs[:, None, :]


def mask_coverage(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Area coverage ``(rows, cols)`` of a boolean ``(h, w)`` mask."""
    import cv2

    return cv2.resize(mask.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float64)


def track_coverage(
    track: Track, frames: Sequence[int], width: int, height: int, rows: int, cols: int
) -> np.ndarray:
    """Coverage ``(len(frames), rows, cols)`` of a track on the given video frames.

    A frame with a mask uses it; otherwise the (interpolated) box is used inside the track's
    extent; outside its extent the coverage is zero.
    """
    frames = np.asarray(frames, dtype=np.int64)
    boxes, valid = track.boxes_at(frames)
    coverage = box_coverage(boxes, width, height, rows, cols)
    coverage[~valid] = 0.0
    if track.masks is not None:
        for k, frame in enumerate(frames):
            mask = track.mask_at(int(frame))
            if mask is not None:
                coverage[k] = mask_coverage(mask, rows, cols)
    return coverage


def score_tracks(frame_map: np.ndarray, coverages: Sequence[np.ndarray]) -> np.ndarray:
    """``max_{t, cell} map x coverage`` per track; ``frame_map`` is ``(frames, rows, cols)``."""
    return np.array([float((frame_map * cov).max()) if cov.size else 0.0 for cov in coverages])
