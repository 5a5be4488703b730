"""Detector-free proposals: tracks segmented from the engine's own attention maps.

When there is no detector (or none that knows the target), the relative attention map the
engine computes over its sampled frames (``frames x h x w`` token grid; README.md, "The method
in brief", and docs/proposals.md) still shows where the model looks.
:func:`tracks_from_attention` turns it into tracks:

1. per frame, keep the cells at or above ``threshold`` times the frame's maximum
   (``relative_to="frame"``) or the map's global maximum (``"global"``); frames whose maximum
   is below ``min_peak`` times the global maximum give nothing;
2. connected components of those cells (``cv2.connectedComponentsWithStats``), the
   ``max_per_frame`` strongest kept; a component's box is its cell extent placed on the video
   frame through the backend's *view* (:mod:`tubescope.engine.geometry`: the part of the frame
   the token grid covers; for the whole frame, cell ``(i, j)`` covers
   ``[j*W/w, (j+1)*W/w) x [i*H/h, (i+1)*H/h)``; a centre-cropped view leaves the frame's sides
   out), clipped to the frame;
3. components are linked across frames by Hungarian matching (scipy) on
   ``(1 - IoU) + centre distance / frame diagonal``, with a constant-velocity prediction and
   a gate (``min_iou`` or ``max_centre_distance``); a chain may miss ``max_missed`` frames;
4. one :class:`~tubescope.types.Track` per chain of at least ``min_frames`` frames, with the
   component's peak (relative to the global maximum) as score and, with ``masks=True``, the
   component upsampled to video pixels as its mask.

Engine hook: the engine computes the map first, then calls
``source.with_maps(relative_map, sampled_frames, view=view).tracks(video, sampled_frames)``;
sources with ``needs_attention = True`` are handled this way. The result's ``proposal_source``
is ``"attention"``.

Example:
    >>> import numpy as np
    >>> from tubescope.proposals import tracks_from_attention
    >>> maps = np.zeros((3, 4, 4)); maps[:, 1, 1] = 1.0  # one hot cell on three frames
    >>> [t.boxes[0].tolist() for t in tracks_from_attention(maps, [0, 5, 10], 40, 40)]
    [[10.0, 10.0, 20.0, 20.0]]
    >>> crop = (0.25, 0.0, 0.75, 1.0)  # the grid saw only the middle half of the width
    >>> [t.boxes[0].tolist() for t in tracks_from_attention(maps, [0, 5, 10], 40, 40, view=crop)]
    [[15.0, 10.0, 20.0, 20.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tubescope.engine.geometry import FULL_VIEW, GridGeometry
from tubescope.errors import ProposalError
from tubescope.eval.boxes import box_iou
from tubescope.plural import counted
from tubescope.proposals.base import select_tracks
from tubescope.proposals.spec import SpecOptions, register_proposal_kind
from tubescope.types import Track

if TYPE_CHECKING:
    from tubescope.video import Video

__all__ = ["AttentionConfig", "AttentionProposals", "tracks_from_attention"]


@dataclass(frozen=True)
class AttentionConfig:
    """Settings of :func:`tracks_from_attention`.

    Attributes:
        threshold: cells at or above ``threshold * reference maximum`` are foreground.
        relative_to: ``"frame"`` (each frame's own maximum) or ``"global"`` (the map's).
        min_peak: frames whose maximum is below ``min_peak * global maximum`` give nothing.
        min_area: least number of grid cells in a component.
        max_per_frame: keep at most this many components per frame (highest peak first).
        connectivity: 4 or 8 (neighbourhood of the connected components).
        min_iou: a component may continue a chain when their IoU reaches this...
        max_centre_distance: ...or when their centres are at most this fraction of the frame
            diagonal apart.
        max_missed: sampled frames a chain may go without a component before it ends.
        min_frames: chains seen on fewer frames are dropped.
        motion: predict a chain's box with its last velocity before matching.
        masks: give each track frame the component's mask (COCO RLE at video size).

    Example:
        >>> from tubescope.proposals import AttentionConfig
        >>> AttentionConfig(threshold=0.6, relative_to="global").relative_to
        'global'
    """

    threshold: float = 0.5
    relative_to: str = "frame"
    min_peak: float = 0.2
    min_area: int = 1
    max_per_frame: int = 5
    connectivity: int = 8
    min_iou: float = 0.1
    max_centre_distance: float = 0.25
    max_missed: int = 1
    min_frames: int = 2
    motion: bool = True
    masks: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ProposalError(f"threshold must be in (0, 1], got {self.threshold!r}")
        if self.relative_to not in ("frame", "global"):
            raise ProposalError(f"relative_to must be 'frame' or 'global', got {self.relative_to!r}")
        if not 0 <= self.min_peak <= 1:
            raise ProposalError(f"min_peak must be in [0, 1], got {self.min_peak!r}")
        if self.connectivity not in (4, 8):
            raise ProposalError(f"connectivity must be 4 or 8, got {self.connectivity!r}")
        for name in ("min_area", "max_per_frame", "min_frames"):
            if getattr(self, name) < 1:
                raise ProposalError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.max_missed < 0:
            raise ProposalError(f"max_missed must be >= 0, got {self.max_missed!r}")


@dataclass
class _Component:
    box: np.ndarray  # xyxy pixels
    peak: float
    cells: np.ndarray  # bool (h, w)


@dataclass
class _Chain:
    frames: list[int] = field(default_factory=list)
    comps: list[_Component] = field(default_factory=list)
    missed: int = 0

    def predicted(self, frame: int, motion: bool) -> np.ndarray:
        last = self.comps[-1].box
        if not motion or len(self.frames) < 2:
            return last
        step = self.frames[-1] - self.frames[-2]
        prev = self.comps[-2].box
        velocity = ((last[:2] + last[2:]) - (prev[:2] + prev[2:])) / 2 / max(step, 1)
        shift = velocity * (frame - self.frames[-1])
        return last + np.concatenate([shift, shift])


def _as_array(maps: Any) -> np.ndarray:
    if hasattr(maps, "detach"):  # a torch tensor
        maps = maps.detach().float().cpu().numpy()
    array = np.asarray(maps, dtype=np.float64)
    if array.ndim != 3:
        raise ProposalError(f"attention maps must have shape (frames, h, w), got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0 or array.shape[2] == 0:
        raise ProposalError(f"attention maps are empty, shape {array.shape}")
    if not np.isfinite(array).all():
        raise ProposalError("attention maps contain NaN or infinite values")
    return array


def _components(
    grid: np.ndarray, ref: float, gmax: float, geometry: GridGeometry, cfg: AttentionConfig
) -> list[_Component]:
    import cv2

    if gmax <= 0 or grid.max() < cfg.min_peak * gmax or ref <= 0:
        return []
    binary = (grid >= cfg.threshold * ref).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        binary, connectivity=cfg.connectivity
    )
    xs = np.clip(geometry.x_edges, 0.0, geometry.width)
    ys = np.clip(geometry.y_edges, 0.0, geometry.height)
    comps = []
    for label in range(1, count):
        left, top, cw, ch, area = (int(v) for v in stats[label])
        if area < cfg.min_area:
            continue
        cells = labels == label
        box = np.array([xs[left], ys[top], xs[left + cw], ys[top + ch]], dtype=np.float64)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue  # cells of a padded view that lie outside the frame
        comps.append(_Component(box, float(grid[cells].max()), cells))
    comps.sort(key=lambda c: -c.peak)
    return comps[: cfg.max_per_frame]


def _link(
    per_frame: list[tuple[int, list[_Component]]], width: int, height: int, cfg: AttentionConfig
) -> list[_Chain]:
    from scipy.optimize import linear_sum_assignment

    diagonal = float(np.hypot(width, height))
    active: list[_Chain] = []
    done: list[_Chain] = []
    for frame, comps in per_frame:
        matched_chain: set[int] = set()
        matched_comp: set[int] = set()
        if active and comps:
            cost = np.full((len(active), len(comps)), 1e6)
            for i, chain in enumerate(active):
                pred = chain.predicted(frame, cfg.motion)
                pc = (pred[:2] + pred[2:]) / 2
                for j, comp in enumerate(comps):
                    iou = float(box_iou(pred[None], comp.box[None])[0])
                    dist = float(np.hypot(*((comp.box[:2] + comp.box[2:]) / 2 - pc))) / diagonal
                    if iou >= cfg.min_iou or dist <= cfg.max_centre_distance:
                        cost[i, j] = (1.0 - iou) + dist
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                if cost[i, j] < 1e6:
                    active[i].frames.append(frame)
                    active[i].comps.append(comps[j])
                    active[i].missed = 0
                    matched_chain.add(i)
                    matched_comp.add(j)
        still = []
        for i, chain in enumerate(active):
            if i not in matched_chain:
                chain.missed += 1
                if chain.missed > cfg.max_missed:
                    done.append(chain)
                    continue
            still.append(chain)
        active = still
        for j, comp in enumerate(comps):
            if j not in matched_comp:
                active.append(_Chain([frame], [comp]))
    return done + active


def tracks_from_attention(
    maps: Any,
    frame_indices: Sequence[int] | np.ndarray,
    width: int,
    height: int,
    config: AttentionConfig | None = None,
    *,
    view: tuple[float, float, float, float] = FULL_VIEW,
) -> list[Track]:
    """Tracks segmented from attention maps over sampled frames.

    Args:
        maps: ``(frames, h, w)`` non-negative map on the token grid (numpy or torch), one
            slice per sampled frame.
        frame_indices: the video frame of each slice (non-decreasing; repeated frames are
            merged by taking the maximum).
        width, height: the video's size in pixels.
        config: :class:`AttentionConfig`.
        view: the part of the frame the token grid covers (``VisualTokens.view``, in fractions
            of the frame: :mod:`tubescope.engine.geometry`); boxes and masks follow it.

    Returns:
        Tracks with ids 0, 1, ... in order of first frame, label ``"attention"``, boxes on the
        sampled frames where the chain was found.

    Example:
        >>> import numpy as np
        >>> from tubescope.proposals import tracks_from_attention
        >>> maps = np.zeros((2, 2, 4)); maps[0, 0, 0] = maps[1, 0, 1] = 1.0
        >>> tracks_from_attention(maps, [0, 8], 80, 40)[0].boxes.tolist()
        [[0.0, 0.0, 20.0, 20.0], [20.0, 0.0, 40.0, 20.0]]
    """
    cfg = config or AttentionConfig()
    array = _as_array(maps)
    indices = np.asarray(frame_indices).reshape(-1)
    if indices.size != array.shape[0]:
        raise ProposalError(
            f"{indices.size} frame indices for {array.shape[0]} attention map frames"
        )
    if indices.size and (not np.issubdtype(indices.dtype, np.integer) or (indices < 0).any()):
        raise ProposalError(f"frame indices must be non-negative integers, got {indices.tolist()}")
    if width < 1 or height < 1:
        raise ProposalError(f"video size must be positive, got {width}x{height}")
    try:
        geometry = GridGeometry(array.shape[1], array.shape[2], width, height, view)
    except ValueError as err:
        raise ProposalError(f"attention maps: {err}") from None
    order = np.argsort(indices, kind="stable")
    indices, array = indices[order].astype(np.int64), array[order]
    unique, start = np.unique(indices, return_index=True)
    merged = np.maximum.reduceat(array, start, axis=0) if len(unique) < len(indices) else array
    gmax = float(merged.max())
    per_frame = []
    for frame, grid in zip(unique.tolist(), merged):
        ref = float(grid.max()) if cfg.relative_to == "frame" else gmax
        per_frame.append((int(frame), _components(grid, ref, gmax, geometry, cfg)))
    chains = [c for c in _link(per_frame, width, height, cfg) if len(c.frames) >= cfg.min_frames]
    chains.sort(key=lambda c: (c.frames[0], float(c.comps[0].box[0]), float(c.comps[0].box[1])))
    tracks = []
    for track_id, chain in enumerate(chains):
        masks = None
        if cfg.masks:
            masks = tuple(_mask_rle(c.cells, geometry) for c in chain.comps)
        tracks.append(
            Track(
                track_id,
                frames=chain.frames,
                boxes=np.array([c.box for c in chain.comps]),
                masks=masks,
                label="attention",
                scores=[c.peak / gmax if gmax > 0 else 0.0 for c in chain.comps],
            )
        )
    return tracks


def _cell_of_pixel(edges: np.ndarray, size: int) -> np.ndarray:
    """The cell index of each pixel centre ``0.5 .. size - 0.5`` (-1: outside the grid)."""
    index = np.searchsorted(edges, np.arange(size) + 0.5, side="right") - 1
    index[(index < 0) | (index >= len(edges) - 1)] = -1
    return index


def _mask_rle(cells: np.ndarray, geometry: GridGeometry) -> dict[str, Any]:
    rows = _cell_of_pixel(geometry.y_edges, geometry.height)
    cols = _cell_of_pixel(geometry.x_edges, geometry.width)
    padded = np.zeros((cells.shape[0] + 1, cells.shape[1] + 1), dtype=bool)
    padded[:-1, :-1] = cells  # index -1 reads the False border: pixels the grid did not see
    return Track.encode_mask(padded[np.ix_(rows, cols)])


class AttentionProposals:
    """The detector-free source: tracks from the engine's attention maps.

    It needs the map the engine computed, so it is used in two steps (``needs_attention``
    tells the engine to do so)::

        bound = source.with_maps(relative_map, sampled_frames)   # (frames, h, w), their indices
        tracks = bound.tracks(video, sampled_frames)

    Calling :meth:`tracks` on an unbound source raises :class:`ProposalError`.

    Example:
        >>> import numpy as np
        >>> from tubescope import Video
        >>> from tubescope.proposals import AttentionProposals
        >>> maps = np.zeros((2, 3, 3)); maps[:, 1, 1] = 1
        >>> video = Video(np.zeros((10, 30, 30, 3), np.uint8))
        >>> [t.frames.tolist() for t in AttentionProposals().with_maps(maps, [0, 9]).tracks(video)]
        [[0, 9]]
    """

    name = "attention"
    needs_attention = True

    def __init__(self, config: AttentionConfig | None = None) -> None:
        self.config = config or AttentionConfig()
        self._maps: np.ndarray | None = None
        self._frames: np.ndarray | None = None
        self._view: tuple[float, float, float, float] = FULL_VIEW
        self._cache: dict[tuple[int, int], list[Track]] = {}

    def with_maps(
        self,
        maps: Any,
        frame_indices: Sequence[int] | np.ndarray,
        *,
        view: tuple[float, float, float, float] = FULL_VIEW,
    ) -> AttentionProposals:
        """A copy bound to the engine's ``(frames, h, w)`` map over ``frame_indices``, whose
        grid covers ``view`` of the frame (``VisualTokens.view``)."""
        bound = AttentionProposals(self.config)
        bound._view = tuple(float(v) for v in view)  # type: ignore[assignment]
        bound._maps = _as_array(maps)
        bound._frames = np.asarray(frame_indices).reshape(-1)
        if bound._frames.size != bound._maps.shape[0]:
            raise ProposalError(
                f"{bound._frames.size} frame indices for "
                f"{bound._maps.shape[0]} attention map frames"
            )
        return bound

    @property
    def bound(self) -> bool:
        return self._maps is not None

    def tracks(self, video: Video, frames: Sequence[int] | np.ndarray | None = None) -> list[Track]:
        """Tracks from the bound map, present on at least one of ``frames`` (all when None)."""
        if self._maps is None or self._frames is None:
            raise ProposalError(
                "attention proposals need the engine's attention maps: "
                "call with_maps(maps, frame_indices) first"
            )
        if self._frames.size and int(self._frames.max()) >= video.frame_count:
            raise ProposalError(
                f"attention map frame {int(self._frames.max())} is beyond the video's "
                f"{counted(video.frame_count, 'frame')}"
            )
        key = (video.width, video.height)
        if key not in self._cache:
            self._cache[key] = tracks_from_attention(
                self._maps, self._frames, video.width, video.height, self.config, view=self._view
            )
        return select_tracks(self._cache[key], frames)

    def __repr__(self) -> str:
        state = "unbound" if self._maps is None else f"bound to {self._maps.shape}"
        return f"AttentionProposals({state})"


@register_proposal_kind(
    "attention",
    usage='"attention" (detector-free: tracks from the attention maps)',
    argument="none",
)
def _attention_spec(argument: str | None, options: SpecOptions) -> AttentionProposals:
    return AttentionProposals()
