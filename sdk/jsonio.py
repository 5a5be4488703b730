"""Reading JSON / JSONL files with errors that name the file (and line) at fault.

The one JSON reader of tubescope: annotations, predictions, proposals, decompositions, model
and preprocessor configs and state files all go through :func:`read_json`, which turns every
way a file can be unreadable into the caller's own error type (``fail(problem)``), so messages
always start with the path. Imports only the standard library (the evaluator uses it).

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.json")
    >>> _ = open(path, "w").write('{"a": 1,}')
    >>> try:
    ...     read_json(path, lambda problem: ValueError(f"bad.json: {problem}"))
    ... except ValueError as err:
    ...     print(err)
    bad.json: not valid JSON (line 1, column 9: Expecting property name enclosed in double quotes)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["DuplicateKeyError", "iter_jsonl", "read_json", "read_text", "reject_duplicates"]

PathLike = str | os.PathLike[str]


class DuplicateKeyError(ValueError):
    """A JSON object repeats a key (``json`` would silently keep the last one)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"duplicate key {key!r}")


def reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses repeated keys."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def _read_text(path: PathLike, fail: Callable[[str], Exception], missing: str = "file not found") -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise fail(missing) from None
    except IsADirectoryError:
        raise fail("is a directory, expected a file") from None
    except UnicodeDecodeError as err:
        raise fail(f"not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise fail(f"cannot be read ({err.strerror or err})") from None


def read_json(
    path: PathLike,
    fail: Callable[[str], Exception],
    *,
    strict_keys: bool = False,
    missing: str = "file not found",
    pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """Parse a whole JSON file; ``fail(problem)`` builds the exception to raise.

    With ``strict_keys`` a repeated key in any object is an error (naming the key); ``missing``
    is the problem reported for a file that does not exist; ``pairs_hook`` builds every object
    from its ``(key, value)`` pairs instead (``json``'s ``object_pairs_hook``).
    """
    text = _read_text(path, fail, missing)
    hook = reject_duplicates if strict_keys else pairs_hook
    try:
        return json.loads(text, object_pairs_hook=hook)
    except DuplicateKeyError as err:
        raise fail(str(err)) from None
    except json.JSONDecodeError as err:
        raise fail(f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None


def read_text(path: PathLike, fail: Callable[[str], Exception]) -> str:
    """The file's text (errors as :func:`read_json`)."""
    return _read_text(path, fail)


def iter_jsonl(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for the non-blank lines of ``text`` (1-based numbers)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line
