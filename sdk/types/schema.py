"""The version of tubescope's JSON schemas (results, prediction rows, CCTV event lines).

Every JSON object tubescope writes for others to read carries ``"schema_version"``. Readers
accept objects without it (files written before the field existed are version 1) and refuse,
with one line, objects from a newer tubescope than themselves, rather than misreading them.

Example:
    >>> check_schema_version({"schema_version": 1}, "GroundingResult")
    1
    >>> check_schema_version({}, "GroundingResult")
    1
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tubescope.errors import ValidationError

__all__ = ["SCHEMA_VERSION", "check_schema_version"]

#: the schema version this tubescope writes (and the newest it reads).
SCHEMA_VERSION = 1


def check_schema_version(data: Mapping[str, Any], what: str) -> int:
    """The ``schema_version`` of ``data`` (1 when absent); ValidationError when unreadable."""
    value = data.get("schema_version", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{what}: expected a positive integer, got {value!r}", "schema_version")
    if value > SCHEMA_VERSION:
        raise ValidationError(
            f"{what} was written by a newer tubescope (schema version {value}; this one reads up to "
            f"{SCHEMA_VERSION}): upgrade tubescope to read it",
            "schema_version",
        )
    return value
