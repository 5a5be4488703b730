"""Checks that cost milliseconds, run before anything expensive (a model load takes minutes).

``tubescope watch`` runs them all before it loads the model: the argument values, the output
paths (:func:`check_writable`), the queries (:func:`check_queries`) and the source itself
(:meth:`Source.probe <tubescope.integrations.cctv.Source.probe>`: reachability and
credentials of a camera, a readable video, a listable folder and its state file, whether
``--time-pattern`` matches the first file). Each failure is one
:class:`~tubescope.errors.ValidationError` or
:class:`~tubescope.integrations.cctv.SourceError` line naming the argument at fault.

:func:`check_writable` is :func:`tubescope.durable.check_writable`, re-exported here.

Example:
    >>> check_queries(["a red car", "  "], "--query")
    Traceback (most recent call last):
    ...
    tubescope.errors.ValidationError: --query: query 2 is empty
"""

from __future__ import annotations

from collections.abc import Sequence

from tubescope.durable import check_writable
from tubescope.errors import ValidationError

__all__ = ["check_writable", "check_queries"]


def check_queries(queries: Sequence[object], what: str = "queries") -> list[str]:
    """The queries stripped, duplicates dropped; ValidationError if there are none or one is blank."""
    if isinstance(queries, str):
        queries = [queries]
    if not queries:
        raise ValidationError("give at least one query (a sentence describing the target)", what)
    out = []
    for number, query in enumerate(queries, 1):
        if not isinstance(query, str):
            raise ValidationError(f"query {number} is not a string: {query!r}", what)
        if not query.strip():
            raise ValidationError(f"query {number} is empty", what)
        out.append(query.strip())
    return list(dict.fromkeys(out))
