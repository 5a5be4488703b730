"""``--set KEY=VALUE``: typed, range-checked changes to the preset's ``GrounderConfig``.

Each value is converted to the type of its ``GrounderConfig`` field (read from the dataclass's
type hints, so a new field is covered without touching this module) and then checked by
``GrounderConfig`` itself, one key at a time, so the message names the key at fault:

* integers: ``8``; numbers: ``0.5``, ``1e-4``; booleans: ``true``/``false`` (also ``yes``/``no``,
  ``on``/``off``, ``1``/``0``); ``none`` for optional fields;
* tuples of integers: ``[6, 7, 8]`` or ``6,7,8``; objects: JSON (``{"pool_stride": 5}``);
* strings are taken as written (JSON-quoted strings are unquoted).

Example:
    >>> parse_set_options(["num_frames=8", "tas=false", "layers=6,7", "resolution=none"])
    {'num_frames': 8, 'tas': False, 'layers': (6, 7), 'resolution': None}
    >>> try:
    ...     parse_set_options(["num_frames=abc"])
    ... except RunError as err:
    ...     print(err)
    --set num_frames='abc': expected an integer
"""

from __future__ import annotations

import difflib
import json
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any, Literal, Union

from tubescope.integrations.runs.plan import RunError

__all__ = ["parse_set_options", "check_overrides"]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null")
_INT = re.compile(r"[+-]?\d+")


class _Mismatch(Exception):
    """The value is not of the expected type (``str(err)`` says what was expected)."""


def _field_types() -> dict[str, Any]:
    from tubescope.engine.config import GrounderConfig

    hints = typing.get_type_hints(GrounderConfig)
    return {f.name: hints[f.name] for f in fields(GrounderConfig)}


def _arms(hint: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        # strings last: "[6, 7]" is a tuple for ``str | tuple[int, ...]``, not the text "[6, 7]"
        return tuple(sorted(typing.get_args(hint), key=lambda arm: arm is str))
    return (hint,)


def _describe(hint: Any) -> str:
    arms = _arms(hint)
    if len(arms) > 1:
        return " or ".join(_describe(arm) for arm in arms)
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if origin is tuple:
        return "a list of integers"
    if origin is dict or hint is dict:
        return "a JSON object"
    return {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "a string",
        type(None): "none",
    }.get(hint, getattr(hint, "__name__", str(hint)))


def _convert(value: Any, hint: Any, text: bool) -> Any:
    """``value`` as ``hint`` (parsed from the command line when ``text``); _Mismatch if not."""
    arms = _arms(hint)
    if len(arms) > 1:
        for arm in arms:
            try:
                return _convert(value, arm, text)
            except _Mismatch:
                continue
        raise _Mismatch(_describe(hint))
    origin = typing.get_origin(hint)
    if text and isinstance(value, str):
        value = _from_text(value.strip(), hint)
    if origin is Literal:
        if value in typing.get_args(hint):
            return value
    elif origin is tuple:
        if isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
            return tuple(int(v) for v in value)
    elif origin is dict or hint is dict:
        if isinstance(value, Mapping):
            return dict(value)
    elif hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if _is_int(value):
            return int(value)
    elif hint is float:
        if _is_int(value) or (isinstance(value, float) and math.isfinite(value)):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:  # a type this module does not know: GrounderConfig checks it
        return value
    raise _Mismatch(_describe(hint))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _from_text(raw: str, hint: Any) -> Any:
    """The Python value a command-line string stands for, given the field type it must have."""
    origin = typing.get_origin(hint)
    lowered = raw.lower()
    if hint is type(None):
        return None if lowered in _NONE else raw
    if hint is bool:
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return raw
    if hint is int:
        return int(raw) if _INT.fullmatch(raw) else raw
    if hint is float:
        try:
            return float(raw)
        except ValueError:
            return raw
    if origin is tuple:
        body = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
        items = [item.strip() for item in body.split(",")]
        if items and all(_INT.fullmatch(item) for item in items):
            return tuple(int(item) for item in items)
        return raw
    if origin is dict or hint is dict:
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _check_values(values: Mapping[str, Any], text: bool) -> dict[str, Any]:
    from tubescope.engine.config import GrounderConfig

    types_ = _field_types()
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in types_:
            close = difflib.get_close_matches(key, list(types_), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise RunError(f"--set {key}: unknown setting{hint}; settings: {', '.join(types_)}")
        try:
            converted = _convert(value, types_[key], text)
        except _Mismatch as err:
            raise RunError(f"--set {key}={value!r}: expected {err}") from None
        try:
            GrounderConfig().replace(**{key: converted})
        except (TypeError, ValueError) as err:
            raise RunError(f"--set {key}={converted!r}: {_problem(err, key)}") from None
        typed[key] = converted
    return typed


def _problem(err: BaseException, key: str) -> str:
    """GrounderConfig's message without the leading field name (the key is named already)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    for prefix in (f"{key}: ", f"{key} "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def parse_set_options(items: Iterable[str]) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` -> typed, checked ``GrounderConfig`` changes (RunError if bad)."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise RunError(f"--set {item!r}: expected KEY=VALUE, e.g. --set num_frames=8")
        values[key.strip()] = raw
    return _check_values(values, text=True)


def check_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Python ``overrides={"num_frames": 8}`` checked like ``--set`` (types are not converted
    from strings here: ``{"num_frames": "8"}`` is refused)."""
    return _check_values(dict(overrides or {}), text=False)
