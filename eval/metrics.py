"""Per-query tIoU / vIoU / gt_vIoU (vectorised over all queries) and their aggregates.

Definitions (docs/evaluation.md, "Metrics"), for a GT span ``[gs, ge)`` and a predicted span
``[ps, pe)``:

* ``tIoU = (min(ge, pe) - max(gs, ps)) / ((ge - gs) + (pe - ps) - inter)``, 0 when
  ``min(ge, pe) <= max(gs, ps)`` (touching spans score 0); raw frame numbers, no ``+1``.
* ``vIoU = sum(IoU over evaluated GT frames inside [max(gs, ps), min(ge, pe))) / |union|``
  where the union holds the evaluated frames of the hull ``[min(gs, ps), max(ge, pe))``.
* ``gt_vIoU`` = mean IoU over the evaluated GT frames, whatever the predicted span.
* ``m_tIoU``, ``m_vIoU``, ``gt_vIoU`` are means over queries (sequential sums, see
  :mod:`tubescope.eval.report`); ``vIoU@R`` is the fraction of queries with ``vIoU > R``
  (strict).

A missing prediction scores 0 on all three; a GT frame without a predicted box has IoU 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tubescope.eval.boxes import box_iou
from tubescope.eval.boxlookup import PredictedBoxes
from tubescope.eval.predictions import Prediction
from tubescope.eval.protocols import Plan

__all__ = ["THRESHOLDS", "QueryScores", "score_queries"]

THRESHOLDS = (0.3, 0.5)


@dataclass(frozen=True)
class QueryScores:
    """Per-query arrays (aligned with the GT queries)."""

    tiou: np.ndarray
    viou: np.ndarray
    gt_viou: np.ndarray
    missing: np.ndarray
    n_frames: np.ndarray  # evaluated GT frames per query


def score_queries(plan: Plan, predictions: Sequence[Prediction | None]) -> QueryScores:
    """Score aligned predictions (None = missing) under ``plan``'s protocol."""
    n = len(predictions)
    missing = np.array([p is None for p in predictions], dtype=bool)
    if plan.integer_spans:
        for p in predictions:
            if p is not None and not (float(p.start).is_integer() and float(p.end).is_integer()):
                raise p.error(
                    f"the stcat protocol needs an integer span (STCAT iterates range(start, end)), "
                    f"got [{p.start}, {p.end})"
                )
    lookup = PredictedBoxes(predictions, interpolate_keyed=plan.protocol == "stcat")
    ps, pe = lookup.start, lookup.end
    gs, ge = plan.gt_start, plan.gt_end
    max_s, min_e = np.maximum(gs, ps), np.minimum(ge, pe)
    min_s, max_e = np.minimum(gs, ps), np.maximum(ge, pe)

    overlap = min_e > max_s
    inter = min_e - max_s
    tiou = np.zeros(n, dtype=np.float64)
    tiou[overlap] = inter[overlap] / (((ge - gs) + (pe - ps)) - inter)[overlap]

    fq, ff = plan.frame_q, plan.frame_id
    boxes, has = lookup.at(fq, ff)
    iou = np.zeros(len(fq), dtype=np.float64)
    iou[has] = box_iou(boxes[has], plan.gt_boxes[has])
    in_inter = (ff >= max_s[fq]) & (ff < min_e[fq])
    viou_sum = np.bincount(fq, weights=np.where(in_inter, iou, 0.0), minlength=n)
    gt_sum = np.bincount(fq, weights=iou, minlength=n)
    if plan.sampled_q is not None:
        sq, sf = plan.sampled_q, plan.sampled_f
        in_union = (sf >= min_s[sq]) & (sf < max_e[sq])
        union = np.bincount(sq, weights=in_union.astype(np.float64), minlength=n)
    else:  # len(range(min_start, max_end))
        union = np.maximum(max_e - min_s, 0.0)
    viou = viou_sum / np.maximum(union, 1.0)
    gt_viou = gt_sum / np.maximum(plan.n_gt_frames, 1)
    for array in (tiou, viou, gt_viou):
        array[missing] = 0.0
    return QueryScores(
        tiou=tiou, viou=viou, gt_viou=gt_viou, missing=missing, n_frames=plan.n_gt_frames
    )
