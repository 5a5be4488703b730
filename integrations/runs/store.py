"""Crash-safe run outputs: append-only JSONL logs, the ``--out`` lock and the run manifest.

**Atomic appends.** A record is serialised to one line (``json.dumps`` + ``"\\n"``), written
with a single ``os.write`` on a descriptor opened with ``O_APPEND`` and then ``fsync``-ed before
the next record is written; the file is created with its directory entry ``fsync``-ed too. A
crash (kill -9, power loss) can therefore leave at most the **last** line incomplete. If a write
returns short (disk full), the file is truncated back to its size before the write and the error
is raised, so a torn line never stays in front of later records.

**Torn-line repair.** :meth:`JsonlLog.open` reads the file; when it does not end with a newline,
the bytes after the last newline are the torn tail of an interrupted write: they are cut off
(``ftruncate``) and reported in :attr:`JsonlLog.repaired` (the record they held is simply redone
by the resumed run). A *complete* line that is not a JSON object is not a crash artefact (the
file was edited or damaged): it raises :class:`RunError` naming the line rather than being
dropped silently.

**Lock.** ``OUT/.lock`` is held with ``flock`` for the whole run, so two runs cannot append to
the same predictions at once (on a shared filesystem without working ``flock``, give each
machine its own ``--out``; ``--shard`` is made for that).
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tubescope.durable import atomic_write_text, fsync_directory
from tubescope.integrations.runs.plan import RunError

__all__ = ["JsonlLog", "run_lock", "write_json_atomic"]


class JsonlLog:
    """An append-only JSON-lines file written one durable line at a time.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "p.jsonl")
        >>> log = JsonlLog.open(path)
        >>> log.append({"query_id": "a", "tube": None})
        >>> with open(path, "ab") as f:           # a crash in the middle of the next write
        ...     _ = f.write(b'{"query_id": "b", "tu')
        >>> log.close()
        >>> again = JsonlLog.open(path)
        >>> [r["query_id"] for r in again.records], again.repaired
        (['a'], 21)
        >>> again.close()
    """

    def __init__(self, path: Path, fd: int, records: list[dict[str, Any]], repaired: int) -> None:
        self.path = path
        self._fd: int | None = fd
        #: the records read when the log was opened (complete lines only).
        self.records = records
        #: bytes of a torn last line cut off when opening (0: the file was clean).
        self.repaired = repaired

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> JsonlLog:
        """Read ``path`` (repairing a torn last line) and open it for appending."""
        target = Path(path)
        existed = target.exists()
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if not existed:
                fsync_directory(target.parent)
            data = b""
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            data = b"".join(chunks)
            repaired = 0
            if data and not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                repaired = len(data) - keep
                os.ftruncate(fd, keep)
                os.fsync(fd)
                data = data[:keep]
            records = cls._parse(target, data)
        except BaseException:
            os.close(fd)
            raise
        return cls(target, fd, records, repaired)

    @staticmethod
    def _parse(path: Path, data: bytes) -> list[dict[str, Any]]:
        records = []
        for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise RunError(
                    f"{path}: line {number} is not valid JSON ({err}); only a torn *last* line is "
                    "repaired automatically: fix or remove that line, then rerun"
                ) from None
            if not isinstance(obj, dict):
                raise RunError(f"{path}: line {number} is not a JSON object")
            records.append(obj)
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one line with a single write, then fsync."""
        if self._fd is None:
            raise RunError(f"{self.path}: log is closed")
        line = (json.dumps(record, separators=(", ", ": "), allow_nan=False) + "\n").encode("utf-8")
        before = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, line)
        except OSError:
            self._undo(before)
            raise
        if written != len(line):
            self._undo(before)
            raise OSError(
                errno.EIO, f"short write ({written} of {len(line)} bytes)", str(self.path)
            )
        os.fsync(self._fd)

    def _undo(self, size: int) -> None:
        try:
            os.ftruncate(self._fd, size)  # type: ignore[arg-type]
        except OSError:  # pragma: no cover - the torn tail is then repaired on the next open
            pass

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> JsonlLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` (exclusive, non-blocking) for the duration of a run."""
    import fcntl

    path = out / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(
                f"{out}: another tubescope run is writing to this directory (lock {path} is held)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the flock


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` via a temporary file + fsync + rename (never half-written)."""
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")
