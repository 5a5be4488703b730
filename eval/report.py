"""The evaluation :class:`Report`: aggregates, per-query results, JSON and CSV output.

``Report.to_dict()`` has exactly the keys ``m_tIoU``, ``m_vIoU``, ``vIoU@0.3``, ``vIoU@0.5``,
``gt_vIoU``, ``n_queries``, ``n_missing``, ``protocol`` (fractions in [0, 1]), plus
``n_stcat_would_drop`` under the ``stcat`` protocol (queries STCAT's own loader would leave out;
we score them). A family with report categories (the dataset table's ``categories``: VidSTG's
declarative and interrogative sentences) is reported per category and never pooled, as every
paper does: the metric keys live only under each category name (each a full set of keys), and
the top level keeps ``n_queries``, ``n_missing`` (and ``n_stcat_would_drop``) and ``protocol``
for the whole set. A category with no query has ``None`` metrics.

Aggregates are sums run sequentially over the queries in annotation order, divided by the
count: exactly what TubeDETR's and STCAT's ``summarize`` loops compute when they are fed the
queries in that order (numpy's pairwise ``mean`` differs in the last bits).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tubescope.durable import atomic_write_text
from tubescope.eval.annotations.record import GTQuery
from tubescope.eval.datasets import get_family
from tubescope.eval.metrics import THRESHOLDS, QueryScores

__all__ = ["QueryResult", "Report", "Summary", "sequential_mean"]

METRIC_KEYS = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5", "gt_vIoU")


def sequential_mean(values: np.ndarray) -> float:
    """``(((0 + v0) + v1) + ...) / n``: the peers' ``summarize`` loop, bit for bit.

    Example:
        >>> sequential_mean(np.array([0.1] * 10)), float(np.mean([0.1] * 10))
        (0.09999999999999999, 0.1)
    """
    total = 0.0
    for value in values.tolist():
        total += value
    return total / len(values)


@dataclass(frozen=True)
class Summary:
    """Aggregates over a set of queries (fractions; None when the set is empty).

    ``n_stcat_would_drop`` is set under the ``stcat`` protocol only (None otherwise).
    """

    m_tIoU: float | None
    m_vIoU: float | None
    vIoU_03: float | None
    vIoU_05: float | None
    gt_vIoU: float | None
    n_queries: int
    n_missing: int
    protocol: str
    n_stcat_would_drop: int | None = None

    @classmethod
    def of(
        cls,
        scores: QueryScores,
        mask: np.ndarray,
        protocol: str,
        would_drop: np.ndarray | None = None,
    ) -> Summary:
        n = int(mask.sum())
        n_missing = int(scores.missing[mask].sum())
        dropped = None if would_drop is None else int(would_drop[mask].sum())
        if n == 0:
            return cls(None, None, None, None, None, 0, 0, protocol, dropped)
        viou = scores.viou[mask]
        low, high = THRESHOLDS
        return cls(
            m_tIoU=sequential_mean(scores.tiou[mask]),
            m_vIoU=sequential_mean(viou),
            vIoU_03=int(np.count_nonzero(viou > low)) / n,
            vIoU_05=int(np.count_nonzero(viou > high)) / n,
            gt_vIoU=sequential_mean(scores.gt_viou[mask]),
            n_queries=n,
            n_missing=n_missing,
            protocol=protocol,
            n_stcat_would_drop=dropped,
        )

    def to_dict(self) -> dict[str, Any]:
        """``m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5, gt_vIoU, n_queries, n_missing`` (and
        ``n_stcat_would_drop`` under ``stcat``), ``protocol``."""
        out: dict[str, Any] = {
            "m_tIoU": self.m_tIoU,
            "m_vIoU": self.m_vIoU,
            "vIoU@0.3": self.vIoU_03,
            "vIoU@0.5": self.vIoU_05,
            "gt_vIoU": self.gt_vIoU,
            "n_queries": self.n_queries,
            "n_missing": self.n_missing,
        }
        if self.n_stcat_would_drop is not None:
            out["n_stcat_would_drop"] = self.n_stcat_would_drop
        out["protocol"] = self.protocol
        return out


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
        protocol: ``"tubedetr"`` or ``"stcat"``. dataset: the dataset name (``"hcstvg-v1"``,
            ...; given or identified from the file), else the family (``"hcstvg"``).
        m_tIoU, m_vIoU, vIoU_03, vIoU_05, gt_vIoU: fractions over all queries (HC-STVG);
            None for a family with categories (VidSTG), reported per :meth:`category`.
        n_queries, n_missing: all GT queries, and those without a prediction (scored 0).
        by_category: the family reports per category (VidSTG).
        stcat_drops: ``stcat`` only: ``(query_id, reason)`` of each query STCAT's own loader
            would drop (we score them); ``n_stcat_would_drop`` counts them.

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
        stcat_drops: Sequence[str | None] | None = None,
    ) -> None:
        self.protocol = protocol
        self.dataset = dataset
        self.queries = tuple(queries)
        self.scores = scores
        self._pred_spans = list(pred_spans)
        family = get_family(self.queries[0].dataset) if self.queries else None
        names = family.categories if family is not None else ()
        self.by_category = bool(names)
        would_drop = None
        self.stcat_drops: list[tuple[str, str]] = []
        if protocol == "stcat" and stcat_drops is not None:
            would_drop = np.array([r is not None for r in stcat_drops], dtype=bool)
            self.stcat_drops = [
                (q.query_id, r) for q, r in zip(self.queries, stcat_drops) if r is not None
            ]
        everything = np.ones(len(self.queries), dtype=bool)
        self.overall = Summary.of(scores, everything, protocol, would_drop)
        self.n_stcat_would_drop = self.overall.n_stcat_would_drop
        self.categories: dict[str, Summary] = {}
        if names:
            qtypes = np.array([q.qtype for q in self.queries], dtype=object)
            for name in names:
                self.categories[name] = Summary.of(scores, qtypes == name, protocol, would_drop)
        reported = self.overall if not self.by_category else None
        self.m_tIoU = reported.m_tIoU if reported else None
        self.m_vIoU = reported.m_vIoU if reported else None
        self.vIoU_03 = reported.vIoU_03 if reported else None
        self.vIoU_05 = reported.vIoU_05 if reported else None
        self.gt_vIoU = reported.gt_vIoU if reported else None
        self.n_queries = self.overall.n_queries
        self.n_missing = self.overall.n_missing

    # ---------------------------------------------------------------- aggregates
    def category(self, name: str) -> Summary:
        """The summary of one category (VidSTG ``"declarative"`` / ``"interrogative"``)."""
        if name not in self.categories:
            raise KeyError(
                f"no category {name!r} (categories: {', '.join(self.categories) or 'none'})"
            )
        return self.categories[name]

    @property
    def summaries(self) -> dict[str, Summary]:
        """What is reported: ``{"all": ...}`` (HC-STVG) or one entry per category (VidSTG)."""
        return dict(self.categories) if self.by_category else {"all": self.overall}

    def to_dict(self) -> dict[str, Any]:
        """The results JSON object (exact keys: see the module docstring)."""
        if not self.by_category:
            return self.overall.to_dict()
        out: dict[str, Any] = {name: s.to_dict() for name, s in self.categories.items()}
        out.update(n_queries=self.n_queries, n_missing=self.n_missing)
        if self.n_stcat_would_drop is not None:
            out["n_stcat_would_drop"] = self.n_stcat_would_drop
        out["protocol"] = self.protocol
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
        handle = io.StringIO(newline="")
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
        atomic_write_text(path, handle.getvalue())  # written whole, then renamed into place

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
