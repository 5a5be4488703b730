"""Where events go: a JSONL file, annotated clips, a Python callback.

A sink has ``emit(event)`` and ``close()``. A sink may also have
``export(window, results, video) -> path``: the watcher calls it for every window that
produced confident results, *before* merging, and records the returned path in the events'
``clips`` (that is how :class:`ClipSink` works).

- :class:`JSONLSink` appends one JSON line per event line (``open``, ``update``, ``close``;
  see :mod:`~tubescope.integrations.cctv.lifecycle`) and flushes **and fsyncs** after each,
  so a line that was reported survives a crash or power cut. A torn last line left by a
  crash is closed with a newline before the next line is appended. Read the file back with
  :func:`~tubescope.integrations.cctv.read_events` (every line) or
  :func:`~tubescope.integrations.cctv.fold_events` (one event per id).
- :class:`ClipSink` writes each such window as an H.264 MP4 (browser-playable) with the
  boxes, labels, traces and score timeline drawn by :func:`tubescope.render.render_result`.
- :class:`CallbackSink` calls your function with each event line, an :class:`Event` whose
  ``state`` says which (on the watcher's grounding thread; exceptions are logged and
  counted, never stop the watcher).

Example:
    >>> import os, tempfile
    >>> from datetime import datetime, timezone
    >>> from tubescope.integrations.cctv import Event, JSONLSink, read_events
    >>> now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> path = os.path.join(tempfile.mkdtemp(), "events.jsonl")
    >>> with JSONLSink(path) as sink:
    ...     sink.emit(Event(source_id="gate", query="a person", start=now, end=now, score=0.8))
    >>> [e.query for e in read_events(path)]
    ['a person']
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tubescope.errors import ValidationError
from tubescope.integrations.cctv.events import Event
from tubescope.integrations.cctv.preflight import check_writable
from tubescope.integrations.cctv.windows import Window
from tubescope.types import GroundingResult

if TYPE_CHECKING:
    from tubescope.video import Video

__all__ = ["Sink", "ClipExporter", "JSONLSink", "ClipSink", "CallbackSink"]

log = logging.getLogger("tubescope.cctv")


@runtime_checkable
class Sink(Protocol):
    """Receives every event the watcher emits."""

    def emit(self, event: Event) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ClipExporter(Protocol):
    """A sink that also turns windows with confident results into clip files."""

    def export(
        self, window: Window, results: Sequence[GroundingResult], video: Video
    ) -> str | None: ...


class JSONLSink:
    """Append events to a JSON-lines file, one line each, durable on return.

    Args:
        path: the events file, created (with its folder) at the first event and appended to
            afterwards; whether it can be written is checked at once.
        fsync: fsync after every event (default True; turn off only for throwaway runs).
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.count = 0
        self._lock = threading.Lock()
        self._handle: Any = None
        self._closed = False
        check_writable(self.path, "events file")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _open(self) -> None:
        self._handle = open(self.path, "ab")  # noqa: SIM115 - kept open for the sink's life
        self._heal()

    def _heal(self) -> None:
        """Close a torn last line (a crash mid-write) so the next event starts on its own line."""
        size = self.path.stat().st_size
        if size == 0:
            return
        with open(self.path, "rb") as reader:
            reader.seek(size - 1)
            if reader.read(1) != b"\n":
                self._handle.write(b"\n")
                self._durable()

    def _durable(self) -> None:
        self._handle.flush()
        if self.fsync:
            os.fsync(self._handle.fileno())

    def emit(self, event: Event) -> None:
        line = (event.to_json() + "\n").encode("utf-8")
        with self._lock:
            if self._closed:
                raise ValidationError(f"{self.path}: the events file is closed")
            if self._handle is None:
                self._open()
            self._handle.write(line)
            self._durable()
            self.count += 1

    def position(self) -> int:
        """The file's size in bytes now: where the next line will start (0 before the file exists)."""
        with self._lock:
            if self._handle is not None:
                self._handle.flush()
            try:
                return self.path.stat().st_size
            except FileNotFoundError:
                return 0

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._handle is not None:
                self._durable()
                self._handle.close()
                self._handle = None

    def __enter__(self) -> JSONLSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JSONLSink({str(self.path)!r}, events={self.count})"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ClipSink:
    """Write an annotated H.264 clip of every window that produced events.

    Clips are named ``<source>_<window start UTC>_w<window id>.mp4`` inside ``folder``, and
    written to a temporary name first (a crash never leaves a half clip under the final name).

    Args:
        folder: where clips go (created if missing).
        heatmap: overlay attention maps when results carry them.
        quality: H.264 CRF (lower is better, larger files).
    """

    def __init__(
        self, folder: str | os.PathLike[str], *, heatmap: bool = False, quality: int = 23
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.heatmap = heatmap
        self.quality = quality
        self.count = 0

    def clip_path(self, window: Window) -> Path:
        stamp = window.start.strftime("%Y%m%dT%H%M%S") + f".{window.start.microsecond // 1000:03d}Z"
        name = _UNSAFE.sub("_", window.source_id).strip("_") or "source"
        return self.folder / f"{name}_{stamp}_w{window.window_id:05d}.mp4"

    def export(
        self, window: Window, results: Sequence[GroundingResult], video: Video
    ) -> str | None:
        from tubescope.render import render_result

        out = self.clip_path(window)
        render_result(video, list(results), out, heatmap=self.heatmap, quality=self.quality)
        self.count += 1
        return str(out)

    def emit(self, event: Event) -> None:
        """Clips are written in :meth:`export`; nothing to do per event."""

    def close(self) -> None:
        """Nothing is kept open."""

    def __repr__(self) -> str:
        return f"ClipSink({str(self.folder)!r}, clips={self.count})"


class CallbackSink:
    """Call ``function(event)`` for every event.

    Example:
        >>> seen = []
        >>> sink = CallbackSink(seen.append)
    """

    def __init__(self, function: Callable[[Event], Any]) -> None:
        if not callable(function):
            raise TypeError(f"CallbackSink needs a callable, got {type(function).__name__}")
        self.function = function

    def emit(self, event: Event) -> None:
        self.function(event)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"CallbackSink({getattr(self.function, '__qualname__', self.function)!r})"
