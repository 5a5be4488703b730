"""Diagnostic plots of a :class:`~tubescope.eval.Report` (matplotlib, lazily, Agg canvas)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.durable import atomic_write_bytes
from tubescope.errors import TubescopeError
from tubescope.eval.report import Report

__all__ = ["write_plots"]


def write_plots(report: Report, directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``viou_hist.png`` (vIoU histogram) and ``tiou_vs_viou.png`` into ``directory``.

    VidSTG categories get their own colour. Returns the written paths.
    """
    # The object API with an explicit Agg canvas: no pyplot, no global backend switch.
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise TubescopeError(f"plots need matplotlib ({err}); pip install matplotlib") from None

    def new_figure(size: tuple[float, float]) -> tuple[Figure, Any]:
        fig = Figure(figsize=size)
        FigureCanvasAgg(fig)
        return fig, fig.subplots()

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    s = report.scores
    groups: list[tuple[str, np.ndarray]]
    if report.by_category:
        qtypes = np.array([q.qtype for q in report.queries], dtype=object)
        groups = [(name, qtypes == name) for name in report.categories]
    else:
        groups = [(report.dataset, np.ones(len(report.queries), dtype=bool))]
    title = (
        f"{report.dataset}, {report.protocol} protocol, "
        f"{report.n_queries} queries ({report.n_missing} missing)"
    )

    fig, ax = new_figure((6.4, 4.2))
    bins = np.linspace(0.0, 1.0, 21)
    ax.hist([s.viou[mask] for _, mask in groups], bins=bins, label=[name for name, _ in groups])
    for threshold in (0.3, 0.5):
        ax.axvline(threshold, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("vIoU")
    ax.set_ylabel("queries")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    hist = out / "viou_hist.png"
    _save(fig, hist)

    fig, ax = new_figure((5.2, 5.0))
    for name, mask in groups:
        ax.scatter(s.tiou[mask], s.viou[mask], s=6, alpha=0.5, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("tIoU")
    ax.set_ylabel("vIoU")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left")
    fig.tight_layout()
    scatter = out / "tiou_vs_viou.png"
    _save(fig, scatter)
    return [hist, scatter]


def _save(fig: Any, path: Path) -> None:
    """Render the PNG in memory, then replace ``path`` atomically (no half-written image)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(path, buffer.getvalue())
