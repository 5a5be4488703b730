"""Temporal selection: which sampled frames the target's action spans.

**Per-frame scores** inside the chosen track (``frame_score``):

* ``"mask_max"`` (official): the action map of each sampled frame upsampled bilinearly to the
  frame's pixels (:meth:`~tubescope.engine.geometry.GridGeometry.frame_upsampling`), times the
  track's binary mask on that frame (its box as a mask when it has none), maximum over pixels;
* ``"coverage"``: the maximum over cells of ``map x coverage``, which favours frames where the
  target looks large.

Scores are normalised by their peak (``s / (max s + 1e-4)``, as the code does).

**Span strategies** are a registry (:func:`register_strategy`): a strategy takes the scores of
the sampled frames it may choose from and :class:`SpanParams`, and returns the inclusive
``(first, last)`` positions. Three are built in:

* ``window`` — the official greedy growth from the peak to ``k`` frames: add whichever
  neighbour scores higher; on a tie ``tie="stop"`` stops (the official loop),
  ``tie="earlier"`` takes the earlier neighbour and keeps growing;
* ``topk`` — the paper's ``k`` best frames (ties to the earlier), span = their hull;
* ``adaptive`` — grow from the peak while frames score at least ``threshold`` x peak, so the
  length follows the evidence rather than a fixed prior.

With ``span_inside_track`` the engine hands a strategy only the sampled frames of the chosen
track's run around the peak (:func:`track_run`), so no span covers frames where the track is
absent. docs/method.md ("Temporal grounding") describes the whole step.

Example:
    >>> @register_strategy("peak_only")
    ... def peak_only(scores, params):
    ...     peak = int(np.argmax(scores))
    ...     return peak, peak
    >>> select_span(np.array([0.1, 0.9, 0.3]), "peak_only", 2)
    (1, 1)
    >>> _ = unregister_strategy("peak_only")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tubescope.engine.config import ConfigError
from tubescope.engine.geometry import GridGeometry
from tubescope.engine.spatial import FrameShape, box_pixels
from tubescope.registry import Registry

__all__ = [
    "SpanParams",
    "SpanStrategy",
    "register_strategy",
    "unregister_strategy",
    "strategy_names",
    "select_span",
    "frame_scores",
    "mask_max_scores",
    "track_run",
    "span_to_frames",
]


@dataclass(frozen=True)
class SpanParams:
    """What a span strategy may use: ``k`` frames, the adaptive ``threshold`` and the window's
    ``tie`` rule (``"earlier"`` or ``"stop"``)."""

    k: int
    threshold: float = 0.5
    tie: str = "earlier"


#: ``strategy(scores, params) -> (first, last)``, inclusive positions into ``scores``.
SpanStrategy = Callable[[np.ndarray, SpanParams], tuple[int, int]]

_STRATEGIES: Registry[SpanStrategy] = Registry("temporal strategy", ConfigError)


def register_strategy(name: str) -> Callable[[SpanStrategy], SpanStrategy]:
    """Decorator: register a span strategy under ``name`` (``GrounderConfig.temporal_strategy``).

    Raises:
        ConfigError: ``name`` is taken (by another function).
    """

    def add(fn: SpanStrategy) -> SpanStrategy:
        return _STRATEGIES.add(name, fn)

    return add


def unregister_strategy(name: str) -> SpanStrategy:
    """Remove a registered strategy (and return it)."""
    return _STRATEGIES.remove(name)


def strategy_names() -> tuple[str, ...]:
    """The registered strategy names, in registration order."""
    return _STRATEGIES.names()


def select_span(
    scores: np.ndarray, strategy: str, k: int, threshold: float = 0.5, *, tie: str = "earlier"
) -> tuple[int, int]:
    """Inclusive ``(first, last)`` positions into ``scores`` chosen by ``strategy``.

    Example:
        >>> s = np.array([0.1, 0.2, 0.9, 0.8, 0.1, 0.7])
        >>> select_span(s, "window", 3), select_span(s, "topk", 3), select_span(s, "adaptive", 0, 0.5)
        ((1, 3), (2, 5), (2, 3))
        >>> select_span(np.array([0.0, 1.0, 0.0]), "window", 3, tie="stop")
        (1, 1)
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        raise ValueError("no frame scores")
    fn = _STRATEGIES.get(strategy)
    first, last = fn(scores, SpanParams(int(k), float(threshold), tie))
    if not 0 <= first <= last < len(scores):
        raise ValueError(f"span strategy {strategy!r} returned ({first}, {last}) for {len(scores)} frames")
    return int(first), int(last)


@register_strategy("window")
def _window(scores: np.ndarray, params: SpanParams) -> tuple[int, int]:
    n = len(scores)
    peak = int(np.argmax(scores))  # first maximum
    lo = hi = peak
    while hi - lo + 1 < min(params.k, n):
        left = scores[lo - 1] if lo > 0 else -100.0  # the official out-of-range score
        right = scores[hi + 1] if hi < n - 1 else -100.0
        if right > left:
            hi += 1
        elif left > right or params.tie != "stop":
            lo -= 1
        else:
            break
    return lo, hi


@register_strategy("topk")
def _topk(scores: np.ndarray, params: SpanParams) -> tuple[int, int]:
    n = len(scores)
    order = sorted(range(n), key=lambda i: (-scores[i], i))[: min(params.k, n)]
    return min(order), max(order)


@register_strategy("adaptive")
def _adaptive(scores: np.ndarray, params: SpanParams) -> tuple[int, int]:
    n = len(scores)
    peak = int(np.argmax(scores))
    floor = params.threshold * scores[peak]
    lo = hi = peak
    while lo > 0 and scores[lo - 1] >= floor:
        lo -= 1
    while hi < n - 1 and scores[hi + 1] >= floor:
        hi += 1
    return lo, hi


def frame_scores(frame_map: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Raw ``"coverage"`` scores ``(frames,)``: ``max_cell map x coverage`` on each frame."""
    return (frame_map * coverage).reshape(len(frame_map), -1).max(axis=1)


def mask_max_scores(frame_map: np.ndarray, shapes: Sequence[FrameShape], geometry: GridGeometry) -> np.ndarray:
    """Raw ``"mask_max"`` scores ``(frames,)``: the map upsampled to the frame, maximum inside
    each frame's binary mask (its box as a mask when it has none); 0 where the track is absent.

    Example:
        >>> geo = GridGeometry(1, 2, 8, 4)
        >>> grid = np.array([[[1.0, 3.0]]])
        >>> box = FrameShape(box=np.array([0.0, 0.0, 4.0, 4.0]))  # pixel columns 0-3
        >>> mask_max_scores(grid, [box], geo).tolist()             # column 3: 0.625 * 1 + 0.375 * 3
        [1.75]
    """
    out = np.zeros(len(shapes), dtype=np.float64)
    for t, shape in enumerate(shapes):
        if not shape.present:
            continue
        grid = np.asarray(frame_map[t], dtype=np.float64)
        if shape.mask is not None:
            mask = np.asarray(shape.mask, dtype=bool)
            rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
            if not len(rows):
                continue
            r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            uy, ux = geometry.frame_upsampling(*mask.shape)
            values = uy[r0:r1] @ grid @ ux[c0:c1].T
            out[t] = float(values[mask[r0:r1, c0:c1]].max())
        else:
            r0, r1, c0, c1 = box_pixels(shape.box, geometry.height, geometry.width)
            if r1 <= r0 or c1 <= c0:
                continue
            uy, ux = geometry.frame_upsampling(geometry.height, geometry.width)
            out[t] = float((uy[r0:r1] @ grid @ ux[c0:c1].T).max())
        out[t] = max(out[t], 0.0)
    return out


def track_run(runs: np.ndarray, scores: np.ndarray) -> tuple[int, int] | None:
    """The inclusive sampled positions of the track run that holds the best present frame.

    ``runs[i]`` is the index of the chosen track's run (:attr:`tubescope.Track.runs`) that
    holds sampled frame ``i``, or -1 where the track does not exist. None when it exists on no
    sampled frame.

    Example:
        >>> track_run(np.array([-1, 0, 0, 1, 1]), np.array([0.0, 0.2, 0.5, 0.1, 0.9]))
        (3, 4)
    """
    runs = np.asarray(runs, dtype=np.int64)
    present = runs >= 0
    if not present.any():
        return None
    masked = np.where(present, np.asarray(scores, dtype=np.float64), -np.inf)
    peak = int(np.argmax(masked))
    same = np.nonzero(runs == runs[peak])[0]
    return int(same[0]), int(same[-1])


def span_to_frames(
    sampled: np.ndarray, first: int, last: int, mode: str, bounds: tuple[int, int]
) -> tuple[int, int]:
    """Half-open video-frame span for the sampled positions ``first..last``.

    ``"sampled"``: ``[sampled[first], sampled[last] + 1)`` (the official inclusive span).
    ``"cover"``: also the frames closer to a chosen sample than to an unchosen neighbour, out
    to ``bounds`` (the range the frames were sampled from) at the ends.

    Example:
        >>> sampled = np.array([0, 10, 20, 30])
        >>> span_to_frames(sampled, 1, 2, "sampled", (0, 40)), span_to_frames(sampled, 1, 2, "cover", (0, 40))
        ((10, 21), (5, 25))
        >>> span_to_frames(sampled, 2, 3, "cover", (0, 40))
        (15, 40)
    """
    sampled = np.asarray(sampled, dtype=np.int64)
    if mode == "sampled":
        return int(sampled[first]), int(sampled[last]) + 1
    if mode != "cover":
        raise ValueError(f"unknown span mode {mode!r}")
    start = bounds[0] if first == 0 else int((sampled[first - 1] + sampled[first] + 1) // 2)
    end = bounds[1] if last == len(sampled) - 1 else int((sampled[last] + sampled[last + 1] + 1) // 2)
    start = min(start, int(sampled[first]))
    end = max(end, int(sampled[last]) + 1)
    return start, end
