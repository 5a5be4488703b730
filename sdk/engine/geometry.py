"""Where the visual-token grid lies on the original video frame.

A backend turns each sampled frame into a ``rows x cols`` grid of visual tokens. What part of
the frame that grid sees depends on the backend's preprocessing: a resize of the whole frame
(Qwen's ``smart_resize``, a squash to a square) spreads the grid over the whole frame; a
centre crop (CLIP-style ``shortest_edge`` + ``crop_size``) shows the model only the middle; a
letterbox pad shows more than the frame. The backend reports this as its *view*: the
rectangle ``(x0, y0, x1, y1)`` of the frame the grid spans uniformly, in fractions of the
frame's width and height (:data:`FULL_VIEW` is the whole frame). :class:`GridGeometry`
turns a view into pixel rectangles of the original frame, so that track coverage, frame
scores, attention-derived proposals and heat-maps all put each cell where the model saw it.

It also carries the two bilinear resamplings of the official code (docs/method.md), as
matrices that act on each axis separately:

* :meth:`GridGeometry.cell_sampling` reads a pixel image (a mask) at the cell centres, as
  ``F.interpolate(mask, size=(rows, cols), mode="bilinear", align_corners=False)`` does on a
  full view;
* :meth:`GridGeometry.frame_upsampling` spreads a ``rows x cols`` map over the frame's pixels,
  as ``F.interpolate(map, size=(H, W), mode="bilinear", align_corners=False)`` does on a full
  view; on a cropped view the same over the viewed rectangle, and zero outside it.

Example:
    >>> geo = GridGeometry(rows=2, cols=2, width=160, height=90, view=(0.21875, 0.0, 0.78125, 1.0))
    >>> geo.x_edges.tolist(), geo.y_edges.tolist()   # a centre-cropped 16:9 frame
    ([35.0, 80.0, 125.0], [0.0, 45.0, 90.0])
    >>> geo.cell_boxes()[0, 1].tolist()
    [80.0, 0.0, 125.0, 45.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["FULL_VIEW", "GridGeometry", "check_view", "bilinear_weights"]

#: the whole frame: the token grid spans it from edge to edge.
FULL_VIEW: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)


def check_view(view: tuple[float, float, float, float] | list[float]) -> tuple[float, float, float, float]:
    """A validated ``(x0, y0, x1, y1)`` view: four finite numbers with ``x0 < x1`` and ``y0 < y1``.

    Example:
        >>> check_view([0, 0, 1, 1])
        (0.0, 0.0, 1.0, 1.0)
    """
    values = tuple(float(v) for v in view)
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ValueError(f"a view is four finite numbers (x0, y0, x1, y1), got {view!r}")
    x0, y0, x1, y1 = values
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"a view needs x0 < x1 and y0 < y1, got {view!r}")
    if x1 <= 0 or y1 <= 0 or x0 >= 1 or y0 >= 1:
        raise ValueError(f"view {view!r} does not overlap the frame (0, 0, 1, 1)")
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class GridGeometry:
    """A ``rows x cols`` token grid placed on a ``width x height`` frame through ``view``."""

    rows: int
    cols: int
    width: int
    height: int
    view: tuple[float, float, float, float] = FULL_VIEW

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"grid must be at least 1x1, got {self.rows}x{self.cols}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"frame size must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "view", check_view(self.view))

    @property
    def is_full(self) -> bool:
        """Whether the grid spans exactly the whole frame."""
        return self.view == FULL_VIEW

    @property
    def x_edges(self) -> np.ndarray:
        """``(cols + 1,)`` pixel x of the cell borders (may lie outside the frame when padded)."""
        x0, _, x1, _ = self.view
        return np.linspace(x0 * self.width, x1 * self.width, self.cols + 1)

    @property
    def y_edges(self) -> np.ndarray:
        """``(rows + 1,)`` pixel y of the cell borders."""
        _, y0, _, y1 = self.view
        return np.linspace(y0 * self.height, y1 * self.height, self.rows + 1)

    def cell_boxes(self) -> np.ndarray:
        """``(rows, cols, 4)`` xyxy pixel rectangle of every cell on the original frame."""
        xs, ys = self.x_edges, self.y_edges
        boxes = np.empty((self.rows, self.cols, 4), dtype=np.float64)
        boxes[..., 0] = xs[None, :-1]
        boxes[..., 2] = xs[None, 1:]
        boxes[..., 1] = ys[:-1, None]
        boxes[..., 3] = ys[1:, None]
        return boxes

    def view_pixels(self) -> tuple[float, float, float, float]:
        """The view as an xyxy pixel rectangle of the original frame."""
        x0, y0, x1, y1 = self.view
        return x0 * self.width, y0 * self.height, x1 * self.width, y1 * self.height

    def cell_sampling(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """``(Ry (rows, height), Rx (cols, width))``: bilinear reads of a ``height x width``
        pixel image spanning the frame at the cell centres; ``Ry @ image @ Rx.T`` is the image
        on the grid. A cell whose centre lies outside the frame (a padded view) reads 0.

        Example:
            >>> import torch
            >>> mask = np.zeros((9, 7)); mask[2:6, 1:3] = 1
            >>> ry, rx = GridGeometry(2, 3, 7, 9).cell_sampling(9, 7)
            >>> ref = torch.nn.functional.interpolate(torch.tensor(mask)[None, None], size=(2, 3),
            ...                                       mode="bilinear", align_corners=False)[0, 0]
            >>> bool(np.allclose(ry @ mask @ rx.T, ref.numpy()))
            True
        """
        return _cell_sampling(self, int(height), int(width))

    def frame_upsampling(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """``(Uy (height, rows), Ux (width, cols))``: the grid spread bilinearly over a
        ``height x width`` pixel image of the frame; ``Uy @ grid @ Ux.T`` is the upsampled map.
        Pixels whose centre lies outside the view read 0.

        Example:
            >>> import torch
            >>> grid = np.arange(6.0).reshape(2, 3)
            >>> uy, ux = GridGeometry(2, 3, 8, 5).frame_upsampling(5, 8)
            >>> ref = torch.nn.functional.interpolate(torch.tensor(grid)[None, None], size=(5, 8),
            ...                                       mode="bilinear", align_corners=False)[0, 0]
            >>> bool(np.allclose(uy @ grid @ ux.T, ref.numpy()))
            True
        """
        return _frame_upsampling(self, int(height), int(width))


def bilinear_weights(positions: np.ndarray, size: int) -> np.ndarray:
    """``(len(positions), size)`` linear-interpolation weights at fractional sample indices.

    PyTorch's ``align_corners=False`` rule: a position below 0 reads sample 0, the upper
    neighbour is clamped to the last sample.

    Example:
        >>> bilinear_weights(np.array([-0.3, 0.25, 2.0]), 3).tolist()
        [[1.0, 0.0, 0.0], [0.75, 0.25, 0.0], [0.0, 0.0, 1.0]]
    """
    src = np.maximum(np.asarray(positions, dtype=np.float64), 0.0)
    low = np.minimum(np.floor(src).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    frac = np.clip(src - low, 0.0, 1.0)
    weights = np.zeros((len(src), size), dtype=np.float64)
    rows = np.arange(len(src))
    np.add.at(weights, (rows, low), 1.0 - frac)
    np.add.at(weights, (rows, high), frac)
    return weights


@lru_cache(maxsize=64)
def _cell_sampling(geometry: GridGeometry, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for edges, extent, pixels in (
        (geometry.y_edges, geometry.height, height),
        (geometry.x_edges, geometry.width, width),
    ):
        centres = (edges[:-1] + edges[1:]) / 2  # frame pixels
        weights = bilinear_weights(centres * (pixels / extent) - 0.5, pixels)
        weights[(centres < 0) | (centres >= extent)] = 0.0
        weights.setflags(write=False)
        out.append(weights)
    return out[0], out[1]


@lru_cache(maxsize=64)
def _frame_upsampling(geometry: GridGeometry, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for edges, cells, extent, pixels in (
        (geometry.y_edges, geometry.rows, geometry.height, height),
        (geometry.x_edges, geometry.cols, geometry.width, width),
    ):
        centres = (np.arange(pixels) + 0.5) * (extent / pixels)  # frame pixels
        lo, hi = edges[0], edges[-1]
        weights = bilinear_weights((centres - lo) * (cells / (hi - lo)) - 0.5, cells)
        weights[(centres < lo) | (centres >= hi)] = 0.0
        weights.setflags(write=False)
        out.append(weights)
    return out[0], out[1]
