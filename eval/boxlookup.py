"""Vectorised lookup of predicted boxes at many ``(query, frame)`` pairs at once.

All predictions are concatenated into one sorted key array ``query * stride + frame``; exact
hits come from one ``searchsorted`` and interpolated boxes from one ``np.interp`` per
coordinate, with the frame first clamped into the owning query's known frames so that no
interpolation ever mixes two queries. ``np.interp`` computes ``slope * (x - x0) + y0`` with
``slope = (y1 - y0) / (x1 - x0)``, the same operations as STCAT's ``linear_interp`` and as
:meth:`tubescope.Tube.box_at`, so the boxes are bit-identical to the per-query computation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tubescope.eval.predictions import Prediction

__all__ = ["PredictedBoxes"]


class PredictedBoxes:
    """Predicted boxes of aligned predictions (None = missing), queried in bulk.

    Which frames have a box: ``"tube"`` predictions: every frame of ``[start, end)``
    (interpolated, held at the ends); ``"keyed"`` predictions: the listed frames, or with
    ``interpolate_keyed`` every frame between the first and last listed one (STCAT).
    """

    def __init__(
        self, predictions: Sequence[Prediction | None], *, interpolate_keyed: bool
    ) -> None:
        n = len(predictions)
        self.n = n
        present = [p for p in predictions if p is not None]
        counts = np.fromiter(
            (len(p.frames) if p is not None else 0 for p in predictions), dtype=np.int64, count=n
        )
        self.counts = counts
        self.stride = int(max((int(p.frames[-1]) for p in present if len(p.frames)), default=0)) + 2
        qidx = np.repeat(np.arange(n, dtype=np.int64), counts)
        if counts.sum():
            frames = np.concatenate([p.frames for p in present if len(p.frames)])
            self.boxes = np.concatenate([p.boxes for p in present if len(p.frames)])
        else:
            frames = np.zeros(0, dtype=np.int64)
            self.boxes = np.zeros((0, 4))
        self.keys = qidx * self.stride + frames
        ends = np.cumsum(counts)
        has_knots = counts > 0
        self.first = np.zeros(n, dtype=np.int64)
        self.last = np.zeros(n, dtype=np.int64)
        self.first[has_knots] = frames[(ends - counts)[has_knots]]
        self.last[has_knots] = frames[ends[has_knots] - 1]
        if n * self.stride >= 2**53:  # keys must stay exact in float64 for np.interp
            raise ValueError("too many queries / frames for exact float64 keys")
        self.has_knots = has_knots
        self.start = np.array(
            [p.start if p is not None else 0.0 for p in predictions], dtype=np.float64
        )
        self.end = np.array(
            [p.end if p is not None else 0.0 for p in predictions], dtype=np.float64
        )
        self.tube = np.array([p is not None and p.mode == "tube" for p in predictions], dtype=bool)
        self.interpolate = self.tube | (interpolate_keyed & has_knots)
        # gaps of "tube" predictions (frames where the tube's track does not exist): no box
        gap_q = [q for q, p in enumerate(predictions) if p is not None and len(p.gaps)]
        if gap_q:
            gaps = np.concatenate([predictions[q].gaps for q in gap_q])  # type: ignore[union-attr]
            owners = np.repeat(gap_q, [len(predictions[q].gaps) for q in gap_q])  # type: ignore[union-attr]
            self.gap_stride = int(gaps[:, 1].max()) + 2
            self.gap_keys = owners * self.gap_stride + gaps[:, 0]
            self.gap_ends = owners * self.gap_stride + gaps[:, 1]
        else:
            self.gap_keys = None

    def at(self, q: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(m, 4)`` on frames ``f`` of queries ``q`` and a mask of those that exist."""
        m = len(q)
        out = np.zeros((m, 4), dtype=np.float64)
        if m == 0 or len(self.keys) == 0:
            return out, np.zeros(m, dtype=bool)
        knots = self.has_knots[q]
        # frames beyond the largest predicted frame can only be held/interpolated, never exact
        key = q * self.stride + np.minimum(f, self.stride - 1)
        pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        exact = (self.keys[pos] == key) & (f < self.stride - 1) & knots
        tube = self.tube[q]
        in_span = (f >= self.start[q]) & (f < self.end[q])
        in_knots = (f >= self.first[q]) & (f <= self.last[q])
        has = np.where(tube, in_span & knots, np.where(self.interpolate[q], in_knots, exact))
        if self.gap_keys is not None:
            key_g = q * self.gap_stride + np.minimum(f, self.gap_stride - 1)
            g = np.searchsorted(self.gap_keys, key_g, side="right") - 1
            hit = (g >= 0) & (key_g < self.gap_ends[np.maximum(g, 0)]) & (f < self.gap_stride - 1)
            hit &= self.gap_keys[np.maximum(g, 0)] // self.gap_stride == q
            has &= ~hit
            exact &= ~hit
        out[exact] = self.boxes[pos[exact]]
        need = has & ~exact
        if need.any():
            qn = q[need]
            fc = np.clip(f[need], self.first[qn], self.last[qn])
            x = (qn * self.stride + fc).astype(np.float64)
            xp = self.keys.astype(np.float64)
            sub = np.empty((len(x), 4), dtype=np.float64)
            for c in range(4):
                sub[:, c] = np.interp(x, xp, self.boxes[:, c])
            out[need] = sub
        return out, has
