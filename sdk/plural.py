"""Counted nouns for messages: ``1 frame``, ``2 frames``, ``1 query``, ``3 queries``.

Example:
    >>> from tubescope.plural import counted
    >>> counted(1, "frame"), counted(2, "frame"), counted(0, "event")
    ('1 frame', '2 frames', '0 events')
    >>> counted(1, "query", "queries"), counted(3, "query", "queries")
    ('1 query', '3 queries')
"""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``"{count} {noun}"`` with the noun in the singular for exactly one, else the plural
    (``singular + "s"`` unless ``plural`` is given)."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"
