"""The annotation-format record, its registry, and detection from a file's structure.

A format is detected from its *shape* (an object of records, a list of records, or an object
with named parts) and its *signature*: field names only it uses. The format whose records
carry its signature most often wins, so a record missing a field (even the first record) does
not hide the format: its loader then names the missing field.

Example:
    >>> from tubescope.eval.annotations.formats import detect_format
    >>> detect_format({"v.mp4": {"bbox": [[0, 0, 1, 1]], "img_num": 100}}).name  # no st_frame
    'hcstvg-raw'
    >>> detect_format([{"temporal_gt": {}, "vid": "1"}]).name
    'vidstg-official'
    >>> detect_format({"a": 1}) is None
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tubescope.eval.datasets.table import DatasetError, get_family
from tubescope.registry import Registry

if TYPE_CHECKING:
    from tubescope.eval.annotations.record import GTQuery

__all__ = [
    "AnnotationFormat",
    "FastLoad",
    "Shape",
    "detect_format",
    "format_names",
    "get_format",
    "records_of",
    "register_format",
    "unregister_format",
]

#: ``"records-by-key"``: ``{key: {...}}``; ``"records"``: ``[{...}, ...]``; ``"parts"``: one
#: object whose top-level keys are the signature.
Shape = Literal["records-by-key", "records", "parts"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FastLoad:
    """What a format's fast reader returns: the queries and a key-level view of the file.

    ``view`` has the file's containers and keys (values may be raw), enough for
    :func:`detect_format`, :func:`records_of` and the dataset identification.
    """

    view: Any
    queries: list[GTQuery]


@dataclass(frozen=True)
class AnnotationFormat:
    """One annotation file format.

    Attributes:
        name: ``"hcstvg-raw"``.
        family: the dataset family of its queries (:mod:`tubescope.eval.datasets`).
        description: the shape in a few words, for messages (``"HC-STVG raw json"``).
        shape, signature: what detection looks for (see the module docstring).
        load: ``(data, path, boxes_dir) -> [GTQuery]``: the precise loader of parsed JSON;
            every problem is an :class:`~tubescope.errors.AnnotationError` naming the file,
            the record and the field.
        fast: ``(raw_bytes, path) -> FastLoad | None``: an optional fast reader of the whole
            file; None whenever the precise loader must decide (see
            :mod:`tubescope.eval.fastjson`).
    """

    name: str
    family: str
    description: str
    shape: Shape
    signature: tuple[str, ...]
    load: Callable[[Any, str | None, PathLike | None], list[GTQuery]]
    fast: Callable[[bytes, str | None], FastLoad | None] | None = None


_FORMATS: Registry[AnnotationFormat] = Registry("annotation format", DatasetError)


def register_format(fmt: AnnotationFormat) -> AnnotationFormat:
    """Add a format (its family must be registered); detection tries formats in this order."""
    get_family(fmt.family)
    if not fmt.signature:
        raise DatasetError(f"annotation format {fmt.name!r} needs a signature (field names)")
    return _FORMATS.add(fmt.name, fmt)


def unregister_format(name: str) -> None:
    """Remove a format added by :func:`register_format` (tests, plug-ins)."""
    _FORMATS.remove(name)


def get_format(name: str) -> AnnotationFormat:
    """The format called ``name``; :class:`~tubescope.eval.datasets.DatasetError` lists them."""
    return _FORMATS.get(name)


def format_names() -> tuple[str, ...]:
    """The registered format names, in detection order."""
    return _FORMATS.names()


def records_of(fmt: AnnotationFormat, data: Any) -> Iterator[tuple[str | int, Any]]:
    """``(record key or position, record)`` of a file of ``fmt`` (none for ``"parts"``)."""
    if fmt.shape == "records-by-key" and isinstance(data, Mapping):
        yield from data.items()
    elif fmt.shape == "records" and isinstance(data, list):
        yield from enumerate(data)


def _score(fmt: AnnotationFormat, data: Any) -> float:
    """The fraction of records (or top-level keys) that carry the format's signature."""
    if fmt.shape == "parts":
        if not isinstance(data, Mapping):
            return 0.0
        return sum(key in data for key in fmt.signature) / len(fmt.signature)
    if fmt.shape == "records-by-key":
        if not isinstance(data, Mapping) or not data:
            return 0.0
        records: Any = data.values()
    else:
        if not isinstance(data, list) or not data:
            return 0.0
        records = data
    if not all(isinstance(record, Mapping) for record in records):
        return 0.0
    hits = sum(any(key in record for key in fmt.signature) for record in records)
    return hits / len(records)


def detect_format(data: Any) -> AnnotationFormat | None:
    """The registered format that best fits parsed JSON ``data`` (None: no format fits)."""
    best, best_score = None, 0.0
    for fmt in _FORMATS.values():
        score = _score(fmt, data)
        if score > best_score:
            best, best_score = fmt, score
    return best
