"""Typed errors of the CCTV integration.

Every message starts with the source it is about: a camera URL with its credentials
redacted, a file, or a folder; state-file errors also name the field at fault.

Example:
    >>> from tubescope.integrations.cctv.errors import SourceAuthError
    >>> str(SourceAuthError("rtsp://admin:pw@cam/live", "the camera rejected the credentials"))
    'rtsp://***@cam/live: the camera rejected the credentials'
"""

from __future__ import annotations

import os

from tubescope.errors import TubescopeError
from tubescope.integrations.cctv.redact import redact, redact_url

__all__ = [
    "SourceError",
    "SourceAuthError",
    "SourceNotFoundError",
    "SourceTimeoutError",
    "SourceConnectionError",
    "StateFileError",
    "WatchError",
]


class SourceError(TubescopeError):
    """A video source cannot be opened or read.

    ``source`` is the redacted source name (URL without credentials, file or folder path);
    ``problem`` says what went wrong. Both are safe to print.
    """

    def __init__(
        self, source: str | os.PathLike[str], problem: str, secrets: tuple[str, ...] = ()
    ) -> None:
        self.source = redact_url(os.fspath(source))
        self.problem = redact(problem, secrets)
        super().__init__(f"{self.source}: {self.problem}")


class SourceAuthError(SourceError):
    """The camera or server rejected the credentials (HTTP/RTSP 401 or 403)."""


class SourceNotFoundError(SourceError):
    """The stream path does not exist on the server (404), or the file/folder is missing."""


class SourceTimeoutError(SourceError):
    """The source did not answer within the open or read timeout."""


class SourceConnectionError(SourceError):
    """The source could not be reached (refused, reset, name not resolved, ...)."""


class StateFileError(SourceError):
    """A folder source's state file is unreadable or malformed; the message names the field."""


class WatchError(TubescopeError):
    """The watcher gave up: grounding failed on too many windows in a row (the message says why)."""
