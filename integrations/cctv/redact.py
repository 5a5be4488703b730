"""Keep camera credentials out of every message, ``repr`` and log line.

Camera URLs often carry a user name and password (``rtsp://admin:secret@10.0.0.7/stream1``)
or put them in the query string (``?user=admin&password=secret``). :func:`redact_url` blanks
both; :func:`redact` does the same to any text (an FFmpeg error message, a traceback line)
and also removes known secret strings wherever they appear, raw or percent-encoded.

Example:
    >>> redact_url("rtsp://admin:s3cret@10.0.0.7:554/Streaming/101?password=s3cret&ch=1")
    'rtsp://***@10.0.0.7:554/Streaming/101?password=***&ch=1'
    >>> redact("401 Unauthorized for s3cret at rtsp://admin:s3cret@cam", secrets=["s3cret"])
    '401 Unauthorized for *** at rtsp://***@cam'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["redact", "redact_url", "RedactingFilter", "MASK"]

#: What a secret is replaced with.
MASK = "***"

# scheme://userinfo@  (userinfo: anything up to the first @ that has no / or whitespace)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/@\s'\"]+)@")
# key=value pairs in query strings whose key names a secret
_SECRET_KEYS = re.compile(
    r"(?P<key>[?&;](?:user(?:name)?|pass(?:word|wd)?|pwd|token|auth|key|secret|signature|sig|"
    r"access_token|api_key)=)(?P<value>[^&#\s'\"]*)",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """``url`` with its user info and secret query values replaced by ``***``.

    Example:
        >>> redact_url("rtsp://user@cam.local/live")
        'rtsp://***@cam.local/live'
        >>> redact_url("/recordings/cam1")  # not a URL: unchanged
        '/recordings/cam1'
    """
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)
    return _SECRET_KEYS.sub(lambda m: f"{m.group('key')}{MASK}", text)


def _variants(secret: str) -> set[str]:
    """A secret as it may appear in text: raw, percent-encoded, and encoded without safe chars."""
    return {v for v in (secret, quote(secret, safe=""), quote(secret)) if v}


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """``str(text)`` with URL credentials and every known ``secrets`` string removed.

    Secrets shorter than 3 characters are only removed inside URLs (blanking every ``a``
    in a message would make it unreadable and protect nothing).

    Example:
        >>> redact("cannot open rtsp://u:p4ss@h/x (p4ss rejected)", secrets=["p4ss"])
        'cannot open rtsp://***@h/x (*** rejected)'
    """
    out = redact_url(str(text))
    variants: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= 3:
            variants |= _variants(secret)
    for variant in sorted(variants, key=len, reverse=True):
        out = out.replace(variant, MASK)
    return out


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it sees.

    Attach it to a handler (``handler.addFilter(RedactingFilter(["s3cret"]))``) to scrub
    records from any logger, including FFmpeg's ``libav.*`` loggers when PyAV logging is on.

    Example:
        >>> import logging
        >>> record = logging.LogRecord("x", logging.INFO, "", 0, "open %s", ("rtsp://a:b@h/",), None)
        >>> RedactingFilter().filter(record), record.getMessage()
        (True, 'open rtsp://***@h/')
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True
