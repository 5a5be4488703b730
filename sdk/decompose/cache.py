"""Decompositions remembered in a file, per query text (for long runs with the MLLM decomposer).

Decomposing a query with a 7B model on a CPU takes a while; a benchmark run that is resumed,
or that meets the same sentence twice, should not pay it again. :class:`DecompositionCache`
wraps a decomposer: a query text it has seen is answered from the file, a new one is
decomposed and the file rewritten atomically (:mod:`tubescope.durable`), so an interrupted
run keeps every decomposition already made. ``tubescope run`` keeps one as
``OUT/decompositions.json`` for ``--decompositions mllm``.

File format: ``{"schema_version": 1, "decomposer": NAME, "queries": {text: sub_queries}}``
with ``sub_queries`` as in a ``GroundingResult`` (attribute, action, fell_back, source, raw).

Example:
    >>> import tempfile, os
    >>> from tubescope.decompose import MLLMDecomposer
    >>> class Scripted:
    ...     calls = 0
    ...     def generate_text(self, prompt, max_new_tokens=64):
    ...         Scripted.calls += 1
    ...         return "Attribute: the dog.\\nAction: The dog barks."
    >>> path = os.path.join(tempfile.mkdtemp(), "decompositions.json")
    >>> DecompositionCache(MLLMDecomposer(Scripted()), path).decompose("The dog barks.").attribute
    'the dog'
    >>> DecompositionCache(MLLMDecomposer(Scripted()), path).decompose("The dog barks.").attribute
    'the dog'
    >>> Scripted.calls  # the second decomposer read the file
    1
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from tubescope.decompose.base import Decomposer, check_query
from tubescope.durable import atomic_write_text
from tubescope.errors import ValidationError
from tubescope.jsonio import read_json
from tubescope.types import SubQueries
from tubescope.types.schema import SCHEMA_VERSION, check_schema_version

__all__ = ["DecompositionCache"]


class DecompositionCache:
    """``decomposer`` with its answers kept in ``path``, keyed by the query text.

    Raises:
        ValidationError: ``path`` exists but is not such a file, or was written for another
            decomposer.
    """

    def __init__(self, decomposer: Decomposer, path: str | os.PathLike[str]) -> None:
        self.decomposer = decomposer
        self.name = decomposer.name
        self.path = Path(path)
        self._lock = threading.Lock()
        self._known: dict[str, SubQueries] = {}
        if self.path.exists():
            self._known = self._read()

    def _read(self) -> dict[str, SubQueries]:
        where = str(self.path)
        data = read_json(self.path, lambda problem: ValidationError(problem, where))
        if not isinstance(data, dict) or not isinstance(data.get("queries"), dict):
            raise ValidationError("expected an object with a 'queries' object", where)
        check_schema_version(data, where)
        if data.get("decomposer") != self.name:
            raise ValidationError(
                f"holds decompositions of {data.get('decomposer')!r}, not {self.name!r}", where
            )
        return {str(text): SubQueries.from_dict(parts) for text, parts in data["queries"].items()}

    def decompose(self, query: str, video_id: str | None = None) -> SubQueries:
        text = check_query(query)
        with self._lock:
            known = self._known.get(text)
        if known is not None:
            return known
        parts = self.decomposer.decompose(text, video_id=video_id)
        with self._lock:
            if self.path.exists():  # another worker may have added some meanwhile
                self._known = {**self._read(), **self._known}
            self._known[text] = parts
            payload = {
                "schema_version": SCHEMA_VERSION,
                "decomposer": self.name,
                "queries": {t: p.to_dict() for t, p in sorted(self._known.items())},
            }
            atomic_write_text(self.path, json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
        return parts
