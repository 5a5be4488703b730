"""Typed exceptions raised by tubescope.

Every error names the file, field or value at fault in its message, so that the command line
can print it as a single line. All of them derive from :class:`TubescopeError`; the ones about
bad values also derive from :class:`ValueError` so ``except ValueError`` keeps working.

Example:
    >>> from tubescope.errors import VideoError
    >>> try:
    ...     raise VideoError("clip.mp4", "no video stream")
    ... except VideoError as err:
    ...     print(err)
    clip.mp4: no video stream

This module imports nothing heavy: the evaluator uses it without torch.
"""

from __future__ import annotations

import os

__all__ = [
    "TubescopeError",
    "ValidationError",
    "VideoError",
    "AnnotationError",
    "PredictionError",
    "ModelUnavailableError",
    "QueryError",
    "ProposalError",
]


class TubescopeError(Exception):
    """Base class of every error tubescope raises on purpose."""


class ValidationError(TubescopeError, ValueError):
    """A value is invalid: an argument, an option, a data-model value (box, frame list, span),
    a JSON field.

    ``field`` names the offending field, argument or flag (``"boxes[3]"``, ``"end_frame"``,
    ``"--frames"``), when known; ``problem`` is the message without it, so that a caller can
    name the value its own way (the command line names its flag).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        self.problem = message
        super().__init__(f"{field}: {message}" if field else message)


class VideoError(TubescopeError):
    """A video cannot be opened or read. The message starts with the video's path."""

    def __init__(self, source: str | os.PathLike[str], problem: str) -> None:
        self.source = os.fspath(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class AnnotationError(TubescopeError, ValueError):
    """A ground-truth annotation file is malformed.

    The message names the file, the record (video id or list position) and the field.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        problem: str,
        record: str | int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.record = record
        self.field = field
        self.problem = problem
        where = [self.path or "<annotations>"]
        if record is not None:
            where.append(f"record {record!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {problem}")


class PredictionError(TubescopeError, ValueError):
    """A prediction file is malformed; the message names the file, line and field."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        problem: str,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.line = line
        self.field = field
        self.problem = problem
        where = [self.path or "<predictions>"]
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {problem}")


class ModelUnavailableError(TubescopeError):
    """A model cannot be loaded (no cached weights and no network, unknown id, ...)."""


class QueryError(TubescopeError, ValueError):
    """A natural-language query is empty or cannot be used."""


class ProposalError(TubescopeError, ValueError):
    """Object proposals do not match the video (frame count, size) or are malformed."""
