"""The only dataset-specific rules of a dataset run, in one place.

Everything else in :mod:`tubescope.integrations.runs` treats datasets alike (video lookup is
layout-agnostic: flat folders and VidOR's ``<group>/<vid>.mp4`` tree are both searched, see
:class:`~tubescope.integrations.runs.plan.VideoResolver`). Two rules follow the official code:

* :func:`job_segment`: VidSTG queries are grounded inside their annotated ``used_segment``
  (frames are sampled only there); HC-STVG queries over the whole video.
* :func:`query_transform`: the official HC-STVG loader lower-cases the sentences; with
  ``preset="paper"`` we do the same.

Example:
    >>> query_transform("hcstvg-v2", "paper", custom_config=False), query_transform("vidstg", "paper")
    ('lowercase', None)
"""

from __future__ import annotations

from tubescope.eval.annotations import GTQuery

__all__ = ["job_segment", "query_transform"]


def job_segment(query: GTQuery) -> tuple[int, int] | None:
    """The ``(begin_fid, end_fid)`` segment (end inclusive) a query is grounded in; None: all."""
    return query.segment if query.dataset == "vidstg" else None


def query_transform(dataset: str, preset: str, *, custom_config: bool = False) -> str | None:
    """``"lowercase"`` when the queries are lower-cased before grounding, else None."""
    if preset == "paper" and not custom_config and dataset.startswith("hcstvg"):
        return "lowercase"
    return None
