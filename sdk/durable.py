"""Durable file writes: replace a file atomically, and make the rename itself survive a crash.

Used wherever tubescope writes state that must never be half-written (proposal files, run
reports and manifests, the CCTV folder state).

Example:
    >>> import os, tempfile
    >>> from tubescope.durable import atomic_write_text
    >>> path = os.path.join(tempfile.mkdtemp(), "state.json")
    >>> atomic_write_text(path, '{"done": []}')
    >>> open(path).read()
    '{"done": []}'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_text", "fsync_directory"]


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """fsync a directory so that a rename inside it is on disk (a no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, fsync, rename.

    Readers see either the old file or the new one, never a partial write; the folder is
    created if needed and the file gets the usual permissions (umask applied).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600 files
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_directory(target.parent)
