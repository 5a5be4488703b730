"""Durable file writes: replace a file atomically, and make the rename itself survive a crash.

Used wherever tubescope writes state that must never be half-written (proposal files, run
reports and manifests, the CCTV folder state).

Before expensive work, :func:`check_writable` tells whether an output path can be written at
all (commands check every output path before they load a model).

Example:
    >>> import os, tempfile
    >>> from tubescope.durable import atomic_write_text, check_writable
    >>> path = os.path.join(tempfile.mkdtemp(), "state.json")
    >>> atomic_write_text(path, '{"done": []}')
    >>> open(path).read()
    '{"done": []}'
    >>> check_writable(os.path.join(tempfile.mkdtemp(), "new", "events.jsonl"), "--events")
    >>> check_writable("/proc/events.jsonl", "--events")
    Traceback (most recent call last):
    ...
    tubescope.errors.ValidationError: --events /proc/events.jsonl: cannot be created: the folder /proc is not writable (...)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tubescope.errors import ValidationError

__all__ = ["atomic_write_bytes", "atomic_write_text", "fsync_directory", "check_writable"]


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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync, rename.

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
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_directory(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_writable(path: str | os.PathLike[str], what: str, *, folder: bool = False) -> None:
    """Raise ValidationError unless ``path`` (a file, or a folder with ``folder=True``) can be written.

    A path that does not exist yet is fine when its nearest existing parent is a folder we
    can create files in (missing folders are created later). It is tried for real (an
    existing file opened for appending, a temporary file made and removed at once), so a
    read-only mount is caught even when running as root. ``what`` names the argument in the
    message (``"--events"``).
    """
    target = Path(path)
    shown = f"{what} {target}"
    if target.exists():
        if folder != target.is_dir():
            raise ValidationError(
                "is a file, expected a folder" if folder else "is a folder, expected a file", shown
            )
        problem = _try_folder(target) if folder else _try_file(target)
        if problem:
            raise ValidationError(f"is not writable ({problem})", shown)
        return
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValidationError(f"cannot be created: {parent} is a file", shown)
    problem = _try_folder(parent)
    if problem:
        raise ValidationError(
            f"cannot be created: the folder {parent} is not writable ({problem})", shown
        )


def _try_file(path: Path) -> str | None:
    try:
        with open(path, "ab"):
            return None
    except OSError as err:
        return err.strerror or type(err).__name__


def _try_folder(path: Path) -> str | None:
    try:
        with tempfile.TemporaryFile(dir=path):
            return None
    except OSError as err:
        return err.strerror or type(err).__name__
