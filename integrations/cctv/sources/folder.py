"""A folder an NVR (or ``ffmpeg -f segment``) exports clips into, processed file by file.

- **Pick-up**: a new file is taken once its size and modification time have not changed for
  ``settle`` seconds (an export still being written is left alone). Ready files are played
  oldest first (modification time, then name). Each file is one segment.
- **Once only**: a small JSON state file (default ``<folder>/.tubescope-state.json``) records
  every file that was processed (name, size, mtime, frame count) or rejected. A restart
  skips them; a file whose size or mtime changed since is treated as a new export. The
  state file is rewritten atomically (temporary file, fsync, rename).
- **Interrupted files**: while a watcher processes a file, its entry is ``"processing"`` with
  the watcher's progress record (windows grounded, events written, where the events file
  stood); a restart processes the file again and hands that record back
  (:meth:`FolderSource.resume_record`) so no event is written twice.
- **Corrupt files** (truncated, not a video, undecodable) are reported (a warning log line,
  ``stats.bad_files``, ``stats.last_error``) with the reason, recorded as failed, and skipped.
- **Wall clock**: from the file name with ``time_pattern`` and ``tz``, else the container's
  ``creation_time``, else mtime minus duration (see :func:`file_start_time`).

When a :class:`~tubescope.integrations.cctv.Watcher` reads the folder it sets
``done_when="acknowledged"``: a file is then recorded only after every window cut from it has
been grounded and its events written, so a crash mid-file means the file is processed again.

Example:
    >>> import os, tempfile
    >>> from tubescope.synthetic import make_clip
    >>> from tubescope.integrations.cctv import FolderSource
    >>> folder = tempfile.mkdtemp()
    >>> _ = make_clip(os.path.join(folder, "a.mp4"), num_frames=6)
    >>> source = FolderSource(folder, settle=0.0, once=True)
    >>> len(list(source)), source.stats.files_done
    (6, 1)
    >>> len(list(FolderSource(folder, settle=0.0, once=True)))  # the state file remembers a.mp4
    0
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from tubescope.durable import atomic_write_text
from tubescope.errors import ValidationError, VideoError
from tubescope.formats import VIDEO_EXTENSIONS
from tubescope.integrations.cctv.errors import SourceError, SourceNotFoundError, StateFileError
from tubescope.integrations.cctv.preflight import check_writable
from tubescope.integrations.cctv.sources.base import (
    LiveFrame,
    Source,
    isoformat_utc,
    local_path,
    utc_now,
    wallclock_at,
)
from tubescope.integrations.cctv.sources.files import (
    check_time_pattern,
    file_start_time,
    resolve_tz,
    time_pattern_warning,
)
from tubescope.jsonio import read_json
from tubescope.plural import counted

__all__ = ["FolderSource", "FolderState", "VIDEO_PATTERNS", "STATE_FILE_NAME"]

log = logging.getLogger("tubescope.cctv")

#: File name patterns a folder source looks at by default.
VIDEO_PATTERNS = tuple(f"*{ext}" for ext in VIDEO_EXTENSIONS)
#: Default name of the state file inside the watched folder.
STATE_FILE_NAME = ".tubescope-state.json"
_STATE_VERSION = 1
_STATUSES = ("done", "failed", "processing")


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time when this (size, mtime) was first observed


class FolderState:
    """The processed/rejected record of a folder source (a small JSON file).

    Example:
        >>> import tempfile, os
        >>> state = FolderState(os.path.join(tempfile.mkdtemp(), "state.json"))
        >>> state.record("a.mp4", "done", size=10, mtime_ns=5, frames=60)
        >>> FolderState(state.path).is_settled("a.mp4", size=10, mtime_ns=5)
        True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.files: dict[str, dict[str, Any]] = {}
        self._lock = (
            threading.Lock()
        )  # files are recorded from the reader and the watcher's threads
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = read_json(
            self.path,
            lambda problem: StateFileError(
                self.path,
                f"unreadable state file ({problem}); delete it to process every file again",
            ),
        )
        if not isinstance(data, dict) or data.get("version") != _STATE_VERSION:
            raise StateFileError(
                self.path,
                f"field 'version': expected {_STATE_VERSION}, got {data.get('version') if isinstance(data, dict) else data!r}",
            )
        files = data.get("files")
        if not isinstance(files, dict):
            raise StateFileError(self.path, "field 'files': expected an object of file records")
        for name, entry in files.items():
            if not isinstance(entry, dict) or entry.get("status") not in _STATUSES:
                raise StateFileError(
                    self.path,
                    f"field 'files.{name}.status': expected 'done', 'failed' or 'processing'",
                )
            if entry["status"] == "processing" and not isinstance(entry.get("progress"), dict):
                raise StateFileError(
                    self.path, f"field 'files.{name}.progress': expected an object"
                )
            for key in ("size", "mtime_ns"):
                if not isinstance(entry.get(key), int):
                    raise StateFileError(
                        self.path, f"field 'files.{name}.{key}': expected an integer"
                    )
        self.files = files

    def record(self, name: str, status: str, *, size: int, mtime_ns: int, **extra: Any) -> None:
        """Record a file as ``"done"``, ``"failed"`` or ``"processing"`` and save the state atomically."""
        with self._lock:
            self.files[name] = {
                "status": status,
                "size": size,
                "mtime_ns": mtime_ns,
                "at": isoformat_utc(utc_now()),
                **extra,
            }
            self._save()

    def is_settled(self, name: str, *, size: int, mtime_ns: int) -> bool:
        """True when ``name`` was processed or rejected in exactly this version (size, mtime)."""
        entry = self.entry(name, size=size, mtime_ns=mtime_ns)
        return entry is not None and entry["status"] in ("done", "failed")

    def entry(self, name: str, *, size: int, mtime_ns: int) -> dict[str, Any] | None:
        """The record of ``name`` if it is about exactly this version of the file."""
        with self._lock:
            entry = self.files.get(name)
        if entry is None or entry["size"] != size or entry["mtime_ns"] != mtime_ns:
            return None
        return entry

    def save(self) -> None:
        """Write the state file (temporary file, fsync, rename, fsync of the folder)."""
        with self._lock:
            self._save()

    def _save(self) -> None:
        payload = json.dumps(
            {"version": _STATE_VERSION, "files": self.files}, indent=1, sort_keys=True
        )
        atomic_write_text(self.path, payload)


class FolderSource(Source, kind="folder", priority=20):
    """Clips dropped into a folder, each processed exactly once.

    Args:
        folder: the export folder.
        patterns: file name patterns to pick up (case-insensitive; default common video
            containers).
        settle: seconds a file's size and mtime must stay unchanged before it is read.
        poll: seconds between folder scans.
        state_file: where to keep the processed record (default
            ``<folder>/.tubescope-state.json``; give another path for a read-only share).
        time_pattern, tz: parse each file's start time from its name.
        once: end after the files present (and settling) at start are done, instead of
            watching for ever.
        source_id: name used in events (default: the folder's name).
        done_when: ``"read"`` (a file is recorded once its last frame was read) or
            ``"acknowledged"`` (only when :meth:`mark_done` is called; the watcher's mode).
    """

    @classmethod
    def accepts(cls, spec: str) -> bool:
        """An existing folder (a path or a ``file://`` URL)."""
        path = local_path(spec)
        return path is not None and path.is_dir()

    resumable = True

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        patterns: Sequence[str] = VIDEO_PATTERNS,
        settle: float = 2.0,
        poll: float = 1.0,
        state_file: str | os.PathLike[str] | None = None,
        time_pattern: str | None = None,
        tz: str | tzinfo | None = None,
        once: bool = False,
        source_id: str | None = None,
        done_when: str = "read",
    ) -> None:
        self.folder = local_path(folder) or Path(folder)
        if not self.folder.is_dir():
            raise SourceNotFoundError(self.folder, "no such folder")
        super().__init__(source_id or self.folder.resolve().name)
        if settle < 0 or poll <= 0:
            raise ValidationError(f"settle must be >= 0 and poll > 0, got settle={settle}, poll={poll}")
        if done_when not in ("read", "acknowledged"):
            raise ValidationError(f"done_when must be 'read' or 'acknowledged', got {done_when!r}")
        if tz is not None:
            resolve_tz(tz)  # fail now, not at the first file
        check_time_pattern(time_pattern)
        self.patterns = tuple(p.lower() for p in patterns)
        self.settle = float(settle)
        self.poll = float(poll)
        self.state = FolderState(
            state_file if state_file is not None else self.folder / STATE_FILE_NAME
        )
        self.time_pattern = time_pattern
        self.tz = tz
        self.once = once
        self.done_when = done_when
        self._seen: dict[str, _Seen] = {}
        self._open_segments: dict[
            int, tuple[str, int, int, int]
        ] = {}  # segment -> (name, size, mtime_ns, frames)
        self._playing: dict[int, tuple[str, int, int]] = {}  # segment -> (name, size, mtime_ns)
        self._lock = threading.Lock()  # mark_done runs on the watcher's thread
        self.current_file: str | None = None

    def probe(self, timeout: float | None = None) -> list[str]:
        """The folder can be listed and the state file written; warns when ``time_pattern`` misses the first file."""
        try:
            entries = [e for e in os.scandir(self.folder) if e.is_file() and self._wanted(e.name)]
        except OSError as err:
            raise SourceError(self.folder, f"cannot list the folder ({err.strerror})") from None
        try:
            check_writable(self.state.path, "the state file")
        except ValidationError as err:
            raise StateFileError(
                self.state.path, f"{err}; keep the state elsewhere with state_file= (--state-file)"
            ) from None
        if not entries:
            return []
        first = min(entries, key=lambda e: (e.stat().st_mtime_ns, e.name))
        warning = time_pattern_warning(first.name, self.time_pattern, self.tz)
        return [warning] if warning else []

    # ------------------------------------------------------------------ scanning
    def _wanted(self, name: str) -> bool:
        lower = name.lower()
        if name.startswith(".") or lower.endswith((".part", ".tmp")):
            return False
        return any(fnmatch.fnmatch(lower, p) for p in self.patterns)

    def _scan(self) -> tuple[list[tuple[int, str, int, int]], int]:
        """Ready files ``(mtime_ns, name, size, mtime_ns)`` sorted oldest first, and how many are still settling."""
        now = time.monotonic()
        ready, settling = [], 0
        try:
            entries = list(os.scandir(self.folder))
        except OSError as err:
            self._error(f"{self.folder}: cannot list the folder ({err.strerror})")
            return [], 0
        present = set()
        for entry in entries:
            if not entry.is_file() or not self._wanted(entry.name):
                continue
            try:
                stat = entry.stat()
            except OSError:
                continue  # deleted between listing and stat
            name = entry.name
            present.add(name)
            with self._lock:  # mark_done moves a file from "open" to the state file under this lock
                settled = self.state.is_settled(name, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
                waiting = any(info[0] == name for info in self._open_segments.values())
            if settled or waiting:
                continue  # read, waiting for the watcher's acknowledgement
            seen = self._seen.get(name)
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                self._seen[name] = _Seen(stat.st_size, stat.st_mtime_ns, now)
                settling += 1
                continue
            if stat.st_size == 0 or now - seen.since < self.settle:
                settling += 1
                continue
            ready.append((stat.st_mtime_ns, name, stat.st_size, stat.st_mtime_ns))
        for name in list(self._seen):
            if name not in present:
                del self._seen[name]
        ready.sort()
        return ready, settling

    # ------------------------------------------------------------------ frames
    def frames(self) -> Iterator[LiveFrame]:
        segment = 0
        first_scan = True
        while not self._stop.is_set():
            self.stats.state = "running"
            ready, settling = self._scan()
            if self.settle == 0 and first_scan and settling:
                ready, settling = self._scan()  # settle=0: a second look is all it takes
            first_scan = False
            for _, name, size, mtime_ns in ready:
                if self._stop.is_set():
                    break
                yield from self._play(name, size, mtime_ns, segment)
                segment += 1
            if self._stop.is_set():
                break
            if not ready:
                if self.once and not settling and not self._pending_acks():
                    self.stats.state = "ended"
                    return
                self.stats.state = "waiting"
                if self._stop.wait(
                    self.poll if settling == 0 or self.settle == 0 else min(self.poll, self.settle)
                ):
                    break
        self.stats.state = "stopped"

    def _play(self, name: str, size: int, mtime_ns: int, segment: int) -> Iterator[LiveFrame]:
        from tubescope.video import Video

        path = self.folder / name
        self.current_file = name
        with self._lock:
            self._playing[segment] = (name, size, mtime_ns)
        count = 0
        try:
            try:
                video = Video(path, backend="pyav")
            except VideoError as err:
                self._reject(name, size, mtime_ns, err.problem)
                return
            with video:
                anchor, self.stats.time_source = file_start_time(
                    path, video.duration, time_pattern=self.time_pattern, tz=self.tz
                )
                self.stats.fps = video.fps
                self.stats.width, self.stats.height = video.width, video.height
                self.stats.segments += 1
                log.info("%s: processing %s (%d frames)", self.source_id, name, video.frame_count)
                try:
                    for frame in video.iter_frames():
                        if self._stop.is_set():
                            return
                        index = self.stats.frames
                        self.stats.frames += 1
                        count += 1
                        yield LiveFrame(
                            index=index,
                            time=frame.time,
                            image=frame.image,
                            wallclock=wallclock_at(anchor, frame.time),
                            source_id=self.source_id,
                            segment=segment,
                            position=frame.index,
                            fps=video.fps,
                            file=str(path),
                        )
                except VideoError as err:
                    self._reject(name, size, mtime_ns, f"{err.problem} (after {counted(count, 'frame')})")
                    self._end_segment(segment)
                    return
            if self._stop.is_set():
                return
            with self._lock:
                self._open_segments[segment] = (name, size, mtime_ns, count)
            self._end_segment(segment)
            if self.done_when == "read":
                self.mark_done(segment)
        finally:
            self.current_file = None

    def _pending_acks(self) -> int:
        with self._lock:
            return len(self._open_segments)

    def _reject(self, name: str, size: int, mtime_ns: int, reason: str) -> None:
        with self._lock:
            for segment, playing in list(self._playing.items()):
                if playing[0] == name:
                    del self._playing[segment]
        message = f"{self.folder / name}: skipped, {reason}"
        log.warning("%s", message)
        self._error(message)
        self.stats.files_skipped += 1
        self.stats.bad_files.append(name)
        self.state.record(name, "failed", size=size, mtime_ns=mtime_ns, reason=reason)

    def resume_record(self, segment: int) -> dict[str, Any] | None:
        """The progress an interrupted run recorded for the file of ``segment`` (None: none)."""
        with self._lock:
            playing = self._playing.get(segment)
        if playing is None:
            return None
        name, size, mtime_ns = playing
        entry = self.state.entry(name, size=size, mtime_ns=mtime_ns)
        if entry is None or entry["status"] != "processing":
            return None
        return dict(entry["progress"])

    def save_progress(self, segment: int, record: dict[str, Any]) -> None:
        """Record the watcher's progress on the file of ``segment`` (status ``"processing"``)."""
        with self._lock:
            playing = self._playing.get(segment)
            if playing is None:
                return  # done (or rejected) already
            name, size, mtime_ns = playing
            self.state.record(name, "processing", size=size, mtime_ns=mtime_ns, progress=record)

    def mark_done(self, segment: int) -> None:
        """Record the file of ``segment`` as processed (called by the watcher when its events are out)."""
        with self._lock:
            self._playing.pop(segment, None)
            info = self._open_segments.pop(segment, None)
            if info is None:
                return
            name, size, mtime_ns, count = info
            self.state.record(name, "done", size=size, mtime_ns=mtime_ns, frames=count)
            self.stats.files_done += 1

    def __repr__(self) -> str:
        return f"FolderSource({self.source_id!r}, folder={str(self.folder)!r}, state={self.stats.state!r})"
