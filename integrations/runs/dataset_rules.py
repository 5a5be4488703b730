"""The dataset-specific rules of a dataset run, read from the dataset table.

Everything in :mod:`tubescope.integrations.runs` treats datasets alike; what differs is a field
of the dataset's record in :mod:`tubescope.eval.datasets` (video layout, segments, window,
lower-casing). Two rules follow the official code:

* :func:`job_segment`: queries of a family with segments (VidSTG) are grounded inside their
  annotated ``used_segment`` (frames are sampled only there); others over the whole video.
* :func:`query_transform`: datasets whose official loader lower-cases the sentences
  (HC-STVG) are lower-cased with ``preset="paper"``.

Example:
    >>> query_transform("hcstvg-v2", "paper", custom_config=False), query_transform("vidstg", "paper")
    ('lowercase', None)
"""

from __future__ import annotations

from tubescope.eval.annotations import GTQuery
from tubescope.eval.datasets import get_dataset, get_family

__all__ = ["job_segment", "query_transform"]


def job_segment(query: GTQuery) -> tuple[int, int] | None:
    """The ``(begin_fid, end_fid)`` segment (end inclusive) a query is grounded in; None: all."""
    return query.segment if get_family(query.dataset).segments else None


def query_transform(dataset: str, preset: str, *, custom_config: bool = False) -> str | None:
    """``"lowercase"`` when the queries are lower-cased before grounding, else None."""
    if preset == "paper" and not custom_config and get_dataset(dataset).paper_lowercase:
        return "lowercase"
    return None
