"""The query-decomposition protocol and the question templates built from its output.

A decomposer splits a referring sentence into an *attribute* text (who/what the target is:
the subject noun phrase with its modifiers) and an *action* text (what it does, with a
generic subject). DSTH uses the attribute for the spatial branch and the action for the
temporal branch. A decomposer that cannot split a query returns ``None`` for a part; the
engine then uses the full query for it and records that it fell back.

Example:
    >>> from tubescope.decompose import RuleDecomposer
    >>> RuleDecomposer().decompose("The man in purple clothes takes a step forward and sits on the bench.")
    SubQueries(attribute='the man in purple clothes', action='The man takes a step forward and sits on the bench.', fell_back=False, source='rules')
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tubescope.errors import QueryError
from tubescope.types import SubQueries

__all__ = ["Decomposer", "resolve_parts", "check_query"]


@runtime_checkable
class Decomposer(Protocol):
    """Splits a query into attribute and action texts."""

    #: short name recorded in ``GroundingResult.sub_queries.source``.
    name: str

    def decompose(self, query: str, video_id: str | None = None) -> SubQueries:
        """Return the parts; ``attribute``/``action`` are None where the query could not be split.

        ``video_id`` lets precomputed decompositions be looked up per video.
        """
        ...


def check_query(query: object) -> str:
    """The query stripped; raises :class:`QueryError` for a non-string or empty query."""
    if not isinstance(query, str):
        raise QueryError(f"the query must be a string, got {type(query).__name__}")
    text = " ".join(query.split())
    if not text:
        raise QueryError("the query is empty")
    return text


def resolve_parts(query: str, parts: SubQueries) -> SubQueries:
    """Fill missing parts with the full query; ``fell_back`` is True if any part was missing."""
    attribute = parts.attribute if parts.attribute and parts.attribute.strip() else None
    action = parts.action if parts.action and parts.action.strip() else None
    fell_back = parts.fell_back or attribute is None or action is None
    return SubQueries(
        attribute=attribute or query,
        action=action or query,
        fell_back=fell_back,
        source=parts.source,
        raw=parts.raw,
    )
