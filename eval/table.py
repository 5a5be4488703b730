"""The results table of a :class:`~tubescope.eval.Report`, as papers print it (x100, one decimal).

Example:
    >>> from tubescope.eval.table import percent
    >>> percent(0.2481), percent(None)
    ('24.8', '-')
"""

from __future__ import annotations

from typing import Any

__all__ = ["results_table", "percent"]

_COLUMNS = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5", "gt_vIoU", "n", "missing")


def percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal; ``"-"`` for a missing value."""
    return "-" if value is None else f"{100 * value:.1f}"


def results_table(report: Any, dataset: str, protocol: str) -> Any:
    """A ``rich.table.Table`` of ``report``: one row per set (VidSTG: per sentence type)."""
    from rich.table import Table

    table = Table(title=f"{dataset}, {protocol} protocol (%)", show_edge=False, pad_edge=False)
    table.add_column("queries" if report.by_category else "set", no_wrap=True, min_width=13)
    for name in _COLUMNS:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    for name, s in report.summaries.items():
        table.add_row(
            dataset if name == "all" else name,
            percent(s.m_tIoU),
            percent(s.m_vIoU),
            percent(s.vIoU_03),
            percent(s.vIoU_05),
            percent(s.gt_vIoU),
            str(s.n_queries),
            str(s.n_missing),
        )
    return table
