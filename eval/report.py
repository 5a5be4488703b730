"""The evaluation :class:`Report`: aggregates, per-query results, JSON and CSV output.

``Report.to_dict()`` has exactly the keys ``m_tIoU``, ``m_vIoU``, ``vIoU@0.3``, ``vIoU@0.5``,
``gt_vIoU``, ``n_queries``, ``n_missing``, ``protocol`` (fractions in [0, 1]). For VidSTG the
two sentence types are reported separately and never pooled (as every paper does): the metric
keys live only under ``"declarative"`` and ``"interrogative"`` (each a full set of the eight
keys), and the top level keeps ``n_queries``, ``n_missing`` and ``protocol`` for the whole set.
A category with no query has ``None`` metrics.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tubescope.eval.annotations.record import GTQuery
from tubescope.eval.metrics import THRESHOLDS, QueryScores

__all__ = ["VIDSTG_CATEGORIES", "QueryResult", "Report", "Summary"]

VIDSTG_CATEGORIES = ("declarative", "interrogative")
METRIC_KEYS = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5", "gt_vIoU")


@dataclass(frozen=True)
class Summary:
    """Aggregates over a set of queries (fractions; None when the set is empty)."""

    m_tIoU: float | None
    m_vIoU: float | None
    vIoU_03: float | None
    vIoU_05: float | None
    gt_vIoU: float | None
    n_queries: int
    n_missing: int
    protocol: str

    @classmethod
    def of(cls, scores: QueryScores, mask: np.ndarray, protocol: str) -> Summary:
        n = int(mask.sum())
        n_missing = int(scores.missing[mask].sum())
        if n == 0:
            return cls(None, None, None, None, None, 0, 0, protocol)
        viou = scores.viou[mask]
        low, high = THRESHOLDS
        return cls(
            m_tIoU=float(scores.tiou[mask].mean()),
            m_vIoU=float(viou.mean()),
            vIoU_03=float((viou > low).mean()),
            vIoU_05=float((viou > high).mean()),
            gt_vIoU=float(scores.gt_viou[mask].mean()),
            n_queries=n,
            n_missing=n_missing,
            protocol=protocol,
        )

    def to_dict(self) -> dict[str, Any]:
        """The eight keys ``m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5, gt_vIoU, n_queries, n_missing,
        protocol``."""
        return {
            "m_tIoU": self.m_tIoU,
            "m_vIoU": self.m_vIoU,
            "vIoU@0.3": self.vIoU_03,
            "vIoU@0.5": self.vIoU_05,
            "gt_vIoU": self.gt_vIoU,
            "n_queries": self.n_queries,
            "n_missing": self.n_missing,
            "protocol": self.protocol,
        }


@dataclass(frozen=True)
class QueryResult:
    """Scores of one query; spans are ours (0-based, half-open), ``pred_span`` None if missing."""

    query_id: str
    video_id: str
    qtype: str | None
    tIoU: float
    vIoU: float
    gt_vIoU: float
    missing: bool
    gt_span: tuple[int, int]
    pred_span: tuple[float, float] | None
    n_frames: int


CSV_FIELDS = (
    "query_id",
    "video_id",
    "qtype",
    "tIoU",
    "vIoU",
    "gt_vIoU",
    "missing",
    "gt_start",
    "gt_end",
    "pred_start",
    "pred_end",
    "n_frames",
)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


class Report:
    """Result of :func:`tubescope.eval.evaluate`.

    Attributes:
        protocol: ``"tubedetr"`` or ``"stcat"``. dataset: ``"hcstvg-v1"``, ``"hcstvg-v2"``,
            ``"vidstg"`` (or the family ``"hcstvg"`` when not given).
        m_tIoU, m_vIoU, vIoU_03, vIoU_05, gt_vIoU: fractions over all queries (HC-STVG);
            None for VidSTG, which reports :meth:`category` ``"declarative"`` and
            ``"interrogative"`` separately.
        n_queries, n_missing: all GT queries, and those without a prediction (scored 0).

    Example:
        >>> from tubescope import Tube
        >>> from tubescope.eval import GTQuery, evaluate
        >>> gt = [GTQuery(q, q, "a man", None, "hcstvg", 500, 25.0, 640, 360, 100, 150,
        ...               frames=range(100, 150), boxes=[[0, 0, 9, 9]] * 50) for q in "ab"]
        >>> report = evaluate(gt, {"a": Tube(100, 150, frames=[100], boxes=[[0, 0, 9, 9]])})
        >>> report.to_dict()["vIoU@0.5"], report.n_missing, report.per_query[1].missing
        (0.5, 1, True)
    """

    def __init__(
        self,
        protocol: str,
        dataset: str,
        queries: Sequence[GTQuery],
        scores: QueryScores,
        pred_spans: Sequence[tuple[float, float] | None],
    ) -> None:
        self.protocol = protocol
        self.dataset = dataset
        self.queries = tuple(queries)
        self.scores = scores
        self._pred_spans = list(pred_spans)
        self.is_vidstg = bool(self.queries) and self.queries[0].dataset == "vidstg"
        everything = np.ones(len(self.queries), dtype=bool)
        self.overall = Summary.of(scores, everything, protocol)
        self.categories: dict[str, Summary] = {}
        if self.is_vidstg:
            qtypes = np.array([q.qtype for q in self.queries], dtype=object)
            for name in VIDSTG_CATEGORIES:
                self.categories[name] = Summary.of(scores, qtypes == name, protocol)
        reported = self.overall if not self.is_vidstg else None
        self.m_tIoU = reported.m_tIoU if reported else None
        self.m_vIoU = reported.m_vIoU if reported else None
        self.vIoU_03 = reported.vIoU_03 if reported else None
        self.vIoU_05 = reported.vIoU_05 if reported else None
        self.gt_vIoU = reported.gt_vIoU if reported else None
        self.n_queries = self.overall.n_queries
        self.n_missing = self.overall.n_missing

    # ---------------------------------------------------------------- aggregates
    def category(self, name: str) -> Summary:
        """The summary of one VidSTG category (``"declarative"`` / ``"interrogative"``)."""
        if name not in self.categories:
            raise KeyError(
                f"no category {name!r} (categories: {', '.join(self.categories) or 'none'})"
            )
        return self.categories[name]

    @property
    def summaries(self) -> dict[str, Summary]:
        """What is reported: ``{"all": ...}`` (HC-STVG) or one entry per VidSTG category."""
        return dict(self.categories) if self.is_vidstg else {"all": self.overall}

    def to_dict(self) -> dict[str, Any]:
        """The results JSON object (exact keys: see the module docstring)."""
        if not self.is_vidstg:
            return self.overall.to_dict()
        out: dict[str, Any] = {name: self.categories[name].to_dict() for name in VIDSTG_CATEGORIES}
        out.update(n_queries=self.n_queries, n_missing=self.n_missing, protocol=self.protocol)
        return out

    # ---------------------------------------------------------------- per query
    @property
    def per_query(self) -> list[QueryResult]:
        """One :class:`QueryResult` per GT query, in annotation order."""
        s = self.scores
        return [
            QueryResult(
                query_id=q.query_id,
                video_id=q.video_id,
                qtype=q.qtype,
                tIoU=float(s.tiou[i]),
                vIoU=float(s.viou[i]),
                gt_vIoU=float(s.gt_viou[i]),
                missing=bool(s.missing[i]),
                gt_span=q.span,
                pred_span=self._pred_spans[i],
                n_frames=int(s.n_frames[i]),
            )
            for i, q in enumerate(self.queries)
        ]

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the per-query results as CSV (columns :data:`CSV_FIELDS`)."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_FIELDS)
            for r in self.per_query:
                pred = r.pred_span or ("", "")
                writer.writerow(
                    [
                        r.query_id,
                        r.video_id,
                        r.qtype or "",
                        repr(r.tIoU),
                        repr(r.vIoU),
                        repr(r.gt_vIoU),
                        int(r.missing),
                        r.gt_span[0],
                        r.gt_span[1],
                        *(_number(v) if v != "" else "" for v in pred),
                        r.n_frames,
                    ]
                )

    def __repr__(self) -> str:
        parts = []
        for name, summary in self.summaries.items():
            if summary.m_vIoU is None or math.isnan(summary.m_vIoU):
                parts.append(f"{name}: no queries")
            else:
                parts.append(
                    f"{name}: m_tIoU={summary.m_tIoU:.4f} m_vIoU={summary.m_vIoU:.4f} "
                    f"vIoU@0.3={summary.vIoU_03:.4f} vIoU@0.5={summary.vIoU_05:.4f}"
                )
        return (
            f"Report(protocol={self.protocol!r}, dataset={self.dataset!r}, "
            f"n_queries={self.n_queries}, n_missing={self.n_missing}; {'; '.join(parts)})"
        )
