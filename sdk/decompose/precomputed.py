"""Decompositions read from JSON: the official ``gpt4_decompose_attr_action.json`` or our own format.

Official format (docs/method.md §9, "Query decomposition"), keyed by video file name::

    {"7_demoClipA.mp4": {"decompose_attribute": ["the man in purple clothes."],
                         "decompose_action": ["The man takes a step forward ..."]}}

The **last** element of each list is used (the official code overwrites in a loop), and the
sentinel ``"please describe this video"`` means the decomposition failed.

Our format, keyed by the query text (optionally ``"<video_id>::<query>"`` to disambiguate)::

    {"the man in purple clothes sits down": {"attribute": "the man in purple clothes",
                                             "action": "The man sits down."}}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tubescope.decompose.base import check_query
from tubescope.errors import QueryError
from tubescope.jsonio import read_json
from tubescope.types import SubQueries

__all__ = ["PrecomputedDecomposer", "FAILED_SENTINEL"]

#: What the official decomposition files hold where GPT-4o failed.
FAILED_SENTINEL = "please describe this video"


def _last_text(value: Any, path: Path, key: str, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        if not value:
            return None
        text = value[-1]
    else:
        raise QueryError(f"{path}: entry {key!r}, field {field!r}: expected a string or a list of strings")
    text = text.strip()
    if not text or text.strip(" .").lower() == FAILED_SENTINEL:
        return None
    return text


class PrecomputedDecomposer:
    """Look decompositions up in a JSON file (official per-video format or ours, auto-detected).

    Example:
        >>> import json, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "d.json")
        >>> _ = open(path, "w").write(json.dumps({"v1.mp4": {
        ...     "decompose_attribute": ["the man in red."], "decompose_action": ["The man sits."]}}))
        >>> PrecomputedDecomposer(path).decompose("the man in red sits", video_id="v1.mp4").attribute
        'the man in red'
    """

    name = "precomputed"

    def __init__(self, source: str | os.PathLike[str] | Mapping[str, Any]) -> None:
        if isinstance(source, Mapping):
            self.path = Path("<mapping>")
            data = source
        else:
            self.path = Path(source)
            data = read_json(
                self.path,
                lambda problem: QueryError(f"{self.path}: {problem}"),
                missing="decomposition file not found",
            )
        if not isinstance(data, Mapping):
            raise QueryError(f"{self.path}: expected a JSON object keyed by video or query")
        self._by_video: dict[str, SubQueries] = {}
        self._by_query: dict[str, SubQueries] = {}
        for key, entry in data.items():
            if not isinstance(entry, Mapping):
                raise QueryError(f"{self.path}: entry {key!r} must be an object")
            if "decompose_attribute" in entry or "decompose_action" in entry:
                attribute = _last_text(entry.get("decompose_attribute"), self.path, key, "decompose_attribute")
                action = _last_text(entry.get("decompose_action"), self.path, key, "decompose_action")
                self._by_video[str(key)] = self._parts(attribute, action)
            elif "attribute" in entry or "action" in entry:
                attribute = _last_text(entry.get("attribute"), self.path, key, "attribute")
                action = _last_text(entry.get("action"), self.path, key, "action")
                self._by_query[self._query_key(str(key))] = self._parts(attribute, action)
            else:
                raise QueryError(
                    f"{self.path}: entry {key!r} has neither decompose_attribute/decompose_action "
                    "(official format) nor attribute/action (tubescope format)"
                )

    def _parts(self, attribute: str | None, action: str | None) -> SubQueries:
        if attribute is not None:
            attribute = attribute.rstrip(". ")
        return SubQueries(attribute, action, fell_back=attribute is None or action is None, source=self.name)

    @staticmethod
    def _query_key(key: str) -> str:
        video, sep, query = key.rpartition("::")
        return f"{video}{sep}{' '.join(query.lower().split())}"

    def __len__(self) -> int:
        return len(self._by_video) + len(self._by_query)

    def decompose(self, query: str, video_id: str | None = None) -> SubQueries:
        """The stored parts for this video (official format) or query (ours).

        A query that is not in the file gives ``SubQueries(fell_back=True)``.
        """
        text = check_query(query)
        if video_id is not None:
            for key in (str(video_id), Path(str(video_id)).name):
                if key in self._by_video:
                    return self._by_video[key]
            scoped = self._query_key(f"{video_id}::{text}")
            if scoped in self._by_query:
                return self._by_query[scoped]
        found = self._by_query.get(self._query_key(text))
        return found if found is not None else SubQueries(fell_back=True, source=self.name)
