"""CCTV sources: network streams, files, NVR export folders, Python iterables.

:func:`open_source` picks the right one for a string through the registry of source kinds
(:data:`SOURCE_KINDS`): each kind's ``accepts(spec)`` is asked in ``priority`` order, so a
URL with a stream scheme (``rtsp://``, ``rtsps://``, ``http(s)://`` including HLS, ...) gives
a :class:`StreamSource`, a folder a :class:`FolderSource`, a file a :class:`FileSource`.
Every module of this package is imported here, so a new kind is one new module (a
``Source`` subclass declared with ``kind="..."``) plus its test; see :class:`Source`.

Example:
    >>> from tubescope.integrations.cctv import open_source
    >>> open_source("rtsp://user:pw@192.0.2.1/live", source_id="door")
    StreamSource('door', url='rtsp://***@192.0.2.1/live', state='idle')
    >>> sorted(source_kinds())
    ['file', 'folder', 'stream']
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from typing import Any
from urllib.parse import urlsplit

from tubescope.errors import ValidationError
from tubescope.integrations.cctv.errors import SourceNotFoundError
from tubescope.integrations.cctv.sources import base
from tubescope.integrations.cctv.sources.base import (
    SOURCE_KINDS,
    Backoff,
    LiveFrame,
    Source,
    SourceStats,
)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")  # each module registers its kinds

from tubescope.integrations.cctv.sources.files import (
    FileSource,
    IterableSource,
    file_start_time,
)
from tubescope.integrations.cctv.sources.folder import FolderSource, FolderState
from tubescope.integrations.cctv.sources.stream import StreamSource

__all__ = [
    "Backoff",
    "FileSource",
    "FolderSource",
    "FolderState",
    "IterableSource",
    "LiveFrame",
    "SOURCE_KINDS",
    "Source",
    "SourceStats",
    "StreamSource",
    "file_start_time",
    "open_source",
    "source_kinds",
]


def source_kinds() -> dict[str, type[Source]]:
    """The registered source kinds, in the order :func:`open_source` tries them."""
    ordered = sorted(base.SOURCE_KINDS.items(), key=lambda item: (item[1].priority, item[0]))
    return dict(ordered)


def open_source(spec: str | os.PathLike[str], *, kind: str | None = None, **options: Any) -> Source:
    """A source for a URL, a folder or a file; options that do not apply to it are ignored.

    Args:
        spec: a stream URL, a path or a ``file://`` URL (or whatever a registered kind accepts).
        kind: build this registered kind instead of asking each kind whether it accepts ``spec``.
        options: keyword options of the source constructors (``source_id``, ``transport``,
            ``state_file``, ...); each kind receives only those its constructor takes.

    Raises:
        SourceNotFoundError: no registered kind accepts ``spec`` (neither a stream URL nor an
            existing file or folder).
    """
    text = os.fspath(spec)
    kinds = source_kinds()
    if kind is not None:
        if kind not in kinds:
            raise ValidationError(f"unknown source kind {kind!r} (known: {', '.join(kinds)})")
        return kinds[kind].from_spec(text, **options)
    for source_class in kinds.values():
        if source_class.accepts(text):
            return source_class.from_spec(text, **options)
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme and scheme != "file":
        schemes = [s for source_class in kinds.values() for s in source_class.schemes]
        raise SourceNotFoundError(
            text, f"unsupported URL scheme {scheme!r} (use one of {', '.join(schemes)})"
        )
    raise SourceNotFoundError(
        text, "no such file or folder, and not a stream URL (rtsp://, http://, ...)"
    )
