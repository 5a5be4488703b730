"""Provenance of a run: versions, hardware, data hashes, command line, dates.

Everything here is cheap except hashing a large proposal directory (the official HC-STVG-v2
proposals are ~14 GB); per-file hashes are cached in ``OUT/.hashes.json`` keyed by path, size
and modification time, so a resumed run does not hash them again.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tubescope._version import __version__

__all__ = [
    "file_sha256",
    "tree_sha256",
    "hardware",
    "tubescope_info",
    "utc_now",
    "command_line",
    "HashCache",
]

_CHUNK = 1 << 22


def utc_now() -> str:
    """The current time, ISO 8601 in UTC with a ``Z`` suffix (seconds)."""
    return (
        _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def command_line(argv: list[str] | None = None) -> str:
    """The shell-quoted command line (``tubescope run ...`` when run through the console script)."""
    args = list(sys.argv if argv is None else argv)
    if args and os.path.basename(args[0]) in ("tubescope", "__main__.py", "main.py"):
        args[0] = "tubescope"
    return shlex.join(args)


class HashCache:
    """sha256 of files, remembered by ``(path, size, mtime_ns)`` in a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    self.entries = data
            except (OSError, json.JSONDecodeError):
                self.entries = {}

    def sha256(self, file: Path) -> str:
        stat = file.stat()
        key = str(file.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns]
        cached = self.entries.get(key)
        if cached is not None and cached[:2] == stamp:
            return str(cached[2])
        digest = hashlib.sha256()
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
        value = digest.hexdigest()
        self.entries[key] = [*stamp, value]
        self.dirty = True
        return value

    def save(self) -> None:
        if self.path is not None and self.dirty:
            from tubescope.integrations.runs.store import write_json_atomic

            write_json_atomic(self.path, self.entries)
            self.dirty = False


def file_sha256(path: str | os.PathLike[str], cache: HashCache | None = None) -> str:
    """sha256 (hex) of a file's bytes."""
    return (cache or HashCache()).sha256(Path(path))


def tree_sha256(root: str | os.PathLike[str], cache: HashCache | None = None) -> dict[str, Any]:
    """A digest of every file under ``root``: sha256 of the sorted ``"relpath\\tsha256\\n"`` lines.

    Returns ``{"sha256", "files", "bytes"}``. Hidden files and folders are skipped.
    """
    base = Path(root)
    cache = cache or HashCache()
    lines = []
    total = 0
    count = 0
    for folder, dirs, files in os.walk(base, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            file = Path(folder) / name
            rel = file.relative_to(base).as_posix()
            lines.append(f"{rel}\t{cache.sha256(file)}\n")
            total += file.stat().st_size
            count += 1
    lines.sort()
    digest = hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
    return {"sha256": digest, "files": count, "bytes": total}


def data_entry(
    path: str | os.PathLike[str] | None, cache: HashCache | None = None
) -> dict[str, Any] | None:
    """``{"path", "sha256", ...}`` for a data file or directory (None when ``path`` is None)."""
    if path is None:
        return None
    target = Path(path)
    entry: dict[str, Any] = {"path": str(target.resolve())}
    if target.is_file():
        entry["sha256"] = file_sha256(target, cache)
        entry["bytes"] = target.stat().st_size
    elif target.is_dir():
        entry.update(tree_sha256(target, cache))
    else:
        entry["sha256"] = None
        entry["note"] = "not found on the driver"
    return entry


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001
        return None


def hardware() -> dict[str, Any]:
    """Host, OS, CPU, GPUs and the versions of the numeric stack of *this* process."""
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpus": [],
        "torch": None,
        "cuda": None,
        "transformers": _version("transformers"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.version.cuda
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - provenance is best effort
        pass
    return info


def tubescope_info() -> dict[str, Any]:
    """tubescope's version and, in a git checkout, its commit and whether the tree is dirty."""
    info: dict[str, Any] = {"version": __version__, "git_commit": None, "git_dirty": None}
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            status = subprocess.run(
                ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if status.returncode == 0:
                info["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info
