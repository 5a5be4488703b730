"""Checks that cost milliseconds, run before anything expensive (a model load takes minutes).

``tubescope watch`` runs them all before it loads the model: the argument values, the output
paths (:func:`check_writable`), the queries (:func:`check_queries`) and the source itself
(:meth:`Source.probe <tubescope.integrations.cctv.Source.probe>`: reachability and
credentials of a camera, a readable video, a listable folder and its state file, whether
``--time-pattern`` matches the first file). Each failure is one
:class:`~tubescope.errors.ValidationError` or
:class:`~tubescope.integrations.cctv.SourceError` line naming the argument at fault.

Example:
    >>> import tempfile, os
    >>> check_writable(os.path.join(tempfile.mkdtemp(), "new", "events.jsonl"), "--events")
    >>> check_writable("/proc/events.jsonl", "--events")
    Traceback (most recent call last):
    ...
    tubescope.errors.ValidationError: --events /proc/events.jsonl: cannot be created: the folder /proc is not writable (...)
    >>> check_queries(["a red car", "  "], "--query")
    Traceback (most recent call last):
    ...
    tubescope.errors.ValidationError: --query: query 2 is empty
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tubescope.errors import ValidationError

__all__ = ["check_writable", "check_queries"]


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


def check_queries(queries: Sequence[object], what: str = "queries") -> list[str]:
    """The queries stripped, duplicates dropped; ValidationError if there are none or one is blank."""
    if isinstance(queries, str):
        queries = [queries]
    if not queries:
        raise ValidationError("give at least one query (a sentence describing the target)", what)
    out = []
    for number, query in enumerate(queries, 1):
        if not isinstance(query, str):
            raise ValidationError(f"query {number} is not a string: {query!r}", what)
        if not query.strip():
            raise ValidationError(f"query {number} is empty", what)
        out.append(query.strip())
    return list(dict.fromkeys(out))
