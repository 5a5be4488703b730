"""The name -> value registry behind every extension point that is a table of names.

Proposal kinds and detector names (:mod:`tubescope.proposals`), span strategies
(:mod:`tubescope.engine.temporal`), dataset families, datasets and annotation formats
(:mod:`tubescope.eval.datasets`) each keep one :class:`Registry`; docs/architecture.md lists
them. A registry keeps names in registration order and raises its owner's error type (a
:class:`~tubescope.errors.TubescopeError`), so every message is one line naming the name and
the choices.

Registering a second, different value under a taken name is refused. Registering the same
value again is a no-op, and so is registering the same definition again (the same function or
class from the same file, which happens when a module is imported a second time, as pytest's
doctest collection does), or an equal record.

Imports only the standard library (the evaluator uses it without numpy at start-up).

Example:
    >>> from tubescope.errors import ValidationError
    >>> colours = Registry("colour", ValidationError, case_insensitive=True)
    >>> colours.add("Red", (255, 0, 0))
    (255, 0, 0)
    >>> colours.get("RED"), colours.names(), "red" in colours
    ((255, 0, 0), ('red',), True)
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    tubescope.errors.ValidationError: unknown colour 'blue'; choose from red
    >>> colours.add("red", (250, 0, 0))
    Traceback (most recent call last):
    ...
    tubescope.errors.ValidationError: colour 'red' is already registered
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from tubescope.errors import TubescopeError

__all__ = ["Registry"]

T = TypeVar("T")


def _definition(value: Any) -> tuple[str, str] | None:
    """(source file, qualified name) of a function or class (or a record holding its
    ``build``); None for other values."""
    target = getattr(value, "build", value)
    if not (inspect.isfunction(target) or inspect.isclass(target) or inspect.ismethod(target)):
        return None
    try:
        return inspect.getfile(target), target.__qualname__
    except (TypeError, OSError):
        return None


def _same(known: Any, value: Any) -> bool:
    """Is ``value`` the registration ``known`` again (same object, definition or record)?

    Records (dataclass instances) are the same when every field is: a module imported a
    second time defines equal records whose functions are new objects of the same definition.
    """
    if known is value:
        return True
    definition = _definition(known)
    if definition is not None:
        return definition == _definition(value)
    if dataclasses.is_dataclass(known) and not isinstance(known, type):
        if type(known).__qualname__ != type(value).__qualname__ or not dataclasses.is_dataclass(value):
            return False
        return all(
            _same(getattr(known, f.name), getattr(value, f.name)) for f in dataclasses.fields(known)
        )
    try:
        return bool(known == value)
    except Exception:  # noqa: BLE001 - records that cannot be compared are not the same
        return False


class Registry(Generic[T]):
    """Names -> values in registration order, raising ``error`` (a TubescopeError class).

    Args:
        what: what a name names, for messages (``"proposal kind"``).
        error: the exception class raised for taken, unknown or malformed names.
        case_insensitive: names are stripped and lower-cased (``"Detector"`` is ``"detector"``).
        reserved: characters a name may not contain (a spec syntax's separators).
    """

    def __init__(
        self,
        what: str,
        error: type[TubescopeError],
        *,
        case_insensitive: bool = False,
        reserved: str = "",
    ) -> None:
        self.what = what
        self.error = error
        self.case_insensitive = case_insensitive
        self.reserved = reserved
        self._entries: dict[str, T] = {}

    def key(self, name: str) -> str:
        """The registry key of ``name``."""
        return name.strip().lower() if self.case_insensitive else name

    def check_name(self, name: str) -> str:
        """The key of ``name``; raises ``error`` when it cannot be a name."""
        key = self.key(name) if isinstance(name, str) else ""
        if not key or any(ch in key for ch in self.reserved):
            without = f", without {' or '.join(repr(c) for c in self.reserved)}" if self.reserved else ""
            raise self.error(f"{self.what} name {name!r} must be a non-empty string{without}")
        return key

    def add(self, name: str, value: T) -> T:
        """Register ``value`` as ``name`` and return it (see the module docstring)."""
        key = self.check_name(name)
        if key in self._entries:
            known = self._entries[key]
            if not _same(known, value):
                raise self.error(f"{self.what} {key!r} is already registered")
            return value  # registered again: the first registration stays
        self._entries[key] = value
        return value

    def remove(self, name: str) -> T | None:
        """Unregister ``name``; its value, or None when it was not registered."""
        return self._entries.pop(self.key(name), None)

    def find(self, name: str) -> T | None:
        """The value registered as ``name``, or None."""
        return self._entries.get(self.key(name)) if isinstance(name, str) else None

    def get(self, name: str) -> T:
        """The value registered as ``name``; ``error`` naming the choices when there is none."""
        value = self.find(name)
        if value is None:
            raise self.error(f"unknown {self.what} {name!r}; choose from {self.choices()}")
        return value

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def values(self) -> tuple[T, ...]:
        """The registered values, in registration order."""
        return tuple(self._entries.values())

    def choices(self) -> str:
        """The names as one comma-separated string (``"none"`` when empty), for messages."""
        return ", ".join(self._entries) or "none"

    def mapping(self) -> Mapping[str, T]:
        """A read-only view of the registry."""
        return MappingProxyType(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.key(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
