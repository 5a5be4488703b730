"""CCTV sources: network streams, files, NVR export folders, Python iterables.

:func:`open_source` picks the right one for a string: a URL with a stream scheme
(``rtsp://``, ``rtsps://``, ``http(s)://`` including HLS, ...) gives a :class:`StreamSource`,
a folder a :class:`FolderSource`, a file a :class:`FileSource`.

Example:
    >>> from tubescope.integrations.cctv import open_source
    >>> open_source("rtsp://user:pw@192.0.2.1/live", source_id="door")
    StreamSource('door', url='rtsp://***@192.0.2.1/live', state='idle')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tubescope.integrations.cctv.errors import SourceNotFoundError
from tubescope.integrations.cctv.sources.base import Backoff, LiveFrame, Source, SourceStats
from tubescope.integrations.cctv.sources.files import FileSource, IterableSource, file_start_time
from tubescope.integrations.cctv.sources.folder import FolderSource, FolderState
from tubescope.integrations.cctv.sources.stream import STREAM_SCHEMES, StreamSource

__all__ = [
    "Backoff",
    "FileSource",
    "FolderSource",
    "FolderState",
    "IterableSource",
    "LiveFrame",
    "Source",
    "SourceStats",
    "StreamSource",
    "file_start_time",
    "open_source",
]

# keyword arguments each source type understands (open_source passes only these)
_STREAM_KEYS = {
    "source_id",
    "transport",
    "open_timeout",
    "read_timeout",
    "stall_timeout",
    "backoff",
    "max_retries",
    "credentials_env",
    "clock",
    "max_clock_skew",
    "options",
    "live",
}
_FILE_KEYS = {"source_id", "realtime", "start_time", "time_pattern", "tz", "clock", "loop"}
_FOLDER_KEYS = {
    "source_id",
    "patterns",
    "settle",
    "poll",
    "state_file",
    "time_pattern",
    "tz",
    "once",
    "done_when",
}


def _pick(options: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in allowed and v is not None}


def open_source(spec: str | os.PathLike[str], **options: Any) -> Source:
    """A source for a URL, a folder or a file; options that do not apply to it are ignored.

    Raises:
        SourceNotFoundError: ``spec`` is neither a stream URL nor an existing file or folder.
    """
    text = os.fspath(spec)
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme in STREAM_SCHEMES:
        return StreamSource(text, **_pick(options, _STREAM_KEYS))
    if scheme == "file":
        text = urlsplit(text).path
    path = Path(text)
    if path.is_dir():
        return FolderSource(path, **_pick(options, _FOLDER_KEYS))
    if path.is_file():
        return FileSource(path, **_pick(options, _FILE_KEYS))
    if scheme:
        raise SourceNotFoundError(
            text, f"unsupported URL scheme {scheme!r} (use one of {', '.join(STREAM_SCHEMES)})"
        )
    raise SourceNotFoundError(
        text, "no such file or folder, and not a stream URL (rtsp://, http://, ...)"
    )
