"""A small name -> value registry, shared by the spec kinds and the detector names.

Names are case-insensitive and kept in registration order. Registering a second, different
value under a taken name is refused; registering the same definition again (the same function
or class, which happens when a module is imported a second time) keeps the first one.

Example:
    >>> from tubescope.proposals.registry import Registry
    >>> colours = Registry("colour")
    >>> colours.add("Red", 1)
    1
    >>> colours.get("red"), colours.names()
    (1, ('red',))
    >>> colours.add("red", 2)
    Traceback (most recent call last):
    ...
    tubescope.errors.ProposalError: colour 'red' is already registered
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from tubescope.errors import ProposalError

__all__ = ["Registry"]

T = TypeVar("T")


def _definition(value: Any) -> tuple[str, str] | None:
    """(source file, qualified name) of a function or class; None for other values."""
    target = getattr(value, "build", value)  # a record holding its builder
    if not (inspect.isfunction(target) or inspect.isclass(target) or inspect.ismethod(target)):
        return None
    try:
        return inspect.getfile(target), target.__qualname__
    except (TypeError, OSError):
        return None


class Registry(Generic[T]):
    """Names (case-insensitive, no ``:`` or ``@``) -> values, in registration order."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    @staticmethod
    def key(name: str) -> str:
        """The registry key of ``name`` (stripped, lower case)."""
        return name.strip().lower()

    def check_name(self, name: str) -> str:
        """The key of ``name``; raises :class:`ProposalError` when it cannot be a name."""
        key = self.key(name)
        if not key or ":" in key or "@" in key:
            raise ProposalError(f"{self.what} name {name!r} must be non-empty, without ':' or '@'")
        return key

    def add(self, name: str, value: T) -> T:
        """Register ``value`` as ``name``; returns ``value``."""
        key = self.check_name(name)
        existing = self._entries.get(key)
        if existing is not None and existing is not value:
            same = _definition(existing)
            if same is None or same != _definition(value):
                raise ProposalError(f"{self.what} {key!r} is already registered")
            return value  # the same definition imported again: the first one stays
        self._entries[key] = value
        return value

    def remove(self, name: str) -> T | None:
        """Unregister ``name``; returns its value (None when it was not registered)."""
        return self._entries.pop(self.key(name), None)

    def get(self, name: str) -> T | None:
        """The value registered as ``name``, or None."""
        return self._entries.get(self.key(name))

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def mapping(self) -> Mapping[str, T]:
        """A read-only view of the registry."""
        return MappingProxyType(self._entries)
