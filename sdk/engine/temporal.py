"""Temporal selection: which sampled frames the target's action spans.

Per-frame scores ``S[t] = max_cell map[t] x coverage_{o*}[t]`` inside the chosen track are
normalised by their peak, then one of three strategies picks a contiguous run of sampled
frames (research/method.md §8):

* ``window`` — the official greedy growth from the peak to ``k`` frames: add whichever
  neighbour scores higher. The code stops on an exact tie; we never stop early and break ties
  toward the earlier frame, so the result is deterministic and always ``k`` frames long
  (or the whole sample when it is shorter).
* ``topk`` — the paper's ``k`` best frames (ties to the earlier), span = their hull.
* ``adaptive`` — grow from the peak while frames score at least ``threshold`` x peak, so the
  length follows the evidence rather than a fixed prior.
"""

from __future__ import annotations

import numpy as np

__all__ = ["frame_scores", "select_span", "span_to_frames"]


def frame_scores(frame_map: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Raw per-frame scores ``(frames,)``: the map's maximum inside the track on each frame."""
    return (frame_map * coverage).reshape(len(frame_map), -1).max(axis=1)


def select_span(scores: np.ndarray, strategy: str, k: int, threshold: float = 0.5) -> tuple[int, int]:
    """Inclusive ``(first, last)`` positions into ``scores`` chosen by ``strategy``.

    Example:
        >>> s = np.array([0.1, 0.2, 0.9, 0.8, 0.1, 0.7])
        >>> select_span(s, "window", 3), select_span(s, "topk", 3), select_span(s, "adaptive", 0, 0.5)
        ((1, 3), (2, 5), (2, 3))
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    if n == 0:
        raise ValueError("no frame scores")
    peak = int(np.argmax(scores))  # first maximum
    if strategy == "window":
        lo = hi = peak
        while hi - lo + 1 < min(k, n):
            left = scores[lo - 1] if lo > 0 else -np.inf
            right = scores[hi + 1] if hi < n - 1 else -np.inf
            if right > left:
                hi += 1
            else:
                lo -= 1
        return lo, hi
    if strategy == "topk":
        order = sorted(range(n), key=lambda i: (-scores[i], i))[: min(k, n)]
        return min(order), max(order)
    if strategy == "adaptive":
        floor = threshold * scores[peak]
        lo = hi = peak
        while lo > 0 and scores[lo - 1] >= floor:
            lo -= 1
        while hi < n - 1 and scores[hi + 1] >= floor:
            hi += 1
        return lo, hi
    raise ValueError(f"unknown temporal strategy {strategy!r}")


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
