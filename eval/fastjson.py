"""Fast reading of large annotation and prediction files (msgspec), in columns.

Benchmark files are mostly numbers: 10,000 HC-STVG queries are ~6 million box coordinates.
``json`` builds a dict per record and a list per box, and the loaders then walk them in
Python; that costs more than everything else the evaluator does. Here msgspec decodes the
*structure* of a file with every record's values kept as raw JSON bytes
(:class:`msgspec.Raw`); each field is then decoded for all records at once, as one typed
column (:func:`decode_column`), and numeric arrays go straight into one numpy array
(:func:`numeric_column`), whose shape msgspec checks while it parses.

These readers are an accelerator, never a judge: each returns None as soon as its input is not
exactly the simple case it handles (another shape or type, a key that may repeat, a ragged
box, a string where a number belongs), and the caller then reads the file with the precise
readers, which name the file, record and field at fault. So every error message is the precise
one, and nothing the precise readers reject is accepted here.

Example:
    >>> view = decode_object_of_records(b'{"a": {"n": 1, "xy": [[1, 2], [3, 4]]}}')
    >>> values, counts = numeric_column([view["a"]["xy"]], float, width=2)
    >>> values.tolist(), counts.tolist()
    ([[1.0, 2.0], [3.0, 4.0]], [2])
    >>> decode_object_of_records(b'{"a": {"n": 1}, "a": {"n": 2}}') is None  # a repeated key
    True
"""

from __future__ import annotations

import gc
import itertools
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec
import numpy as np

__all__ = [
    "Raw",
    "without_gc",
    "decode_column",
    "decode_list_of_records",
    "decode_object_of_records",
    "flatten",
    "integer_column",
    "numeric_column",
]

Raw = msgspec.Raw
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
_OBJECT_OF_RECORDS = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]])
_LIST_OF_RECORDS = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])
_DECODERS: dict[Any, msgspec.json.Decoder] = {}


@contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic objects are made.

    Decoded numbers, tuples and records hold no reference cycles, so reference counting frees
    them; the collector would only rescan them (about 10% of a 10k-query file's read time).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _decoder(kind: Any) -> msgspec.json.Decoder:
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    return decoder


def _no_repeated_keys(text: bytes, kept: int, values: Iterable[Raw], names: set[str]) -> bool:
    """Whether the text's ``:`` bytes are exactly the separators of the ``kept`` keys.

    Every ``:`` byte of a JSON text separates a key from its value or lies inside a string.
    ``kept`` counts the keys left after decoding (a repeated key is kept once) and the raw
    values carry their own ``:`` bytes, so a repeated key leaves one separator unaccounted for.
    Key names holding ``:`` (possibly escaped) are not handled: the caller reads precisely.
    """
    if any(":" in name for name in names):
        return False
    return text.count(b":") == kept + b"".join(map(bytes, values)).count(b":")


def decode_object_of_records(text: bytes) -> dict[str, dict[str, Raw]] | None:
    """``{key: {field: raw value}}``, or None (not that shape, or a key may repeat)."""
    try:
        data = _OBJECT_OF_RECORDS.decode(text)
    except _ERRORS:
        return None
    names = set(data)
    for record in data.values():
        names.update(record)
    kept = len(data) + sum(map(len, data.values()))
    values = itertools.chain.from_iterable(record.values() for record in data.values())
    return data if _no_repeated_keys(text, kept, values, names) else None


def decode_list_of_records(text: bytes) -> list[dict[str, Raw]] | None:
    """``[{field: raw value}, ...]``, or None (not that shape, or a key may repeat)."""
    try:
        data = _LIST_OF_RECORDS.decode(text)
    except _ERRORS:
        return None
    names: set[str] = set()
    for record in data:
        names.update(record)
    values = itertools.chain.from_iterable(record.values() for record in data)
    return data if _no_repeated_keys(text, sum(map(len, data)), values, names) else None


def decode_column(values: Sequence[Raw | bytes], kind: Any) -> list[Any] | None:
    """Every raw value decoded as the msgspec type ``kind`` (``int``, ``str``...), or None.

    One msgspec call for the whole column. msgspec is strict: ``1.0`` is not an ``int`` and
    ``true`` is not a number, so such files go to the precise readers.
    """
    try:
        return _decoder(list[kind]).decode(b"[" + b",".join(map(bytes, values)) + b"]")
    except _ERRORS:
        return None


def numeric_column(
    values: Sequence[Raw | bytes], kind: type, width: int | None = None, *, chunk: int = 200
) -> tuple[np.ndarray, np.ndarray] | None:
    """Raw JSON arrays of numbers (``[n, ...]``, or rows ``[[n] * width, ...]``) as one array.

    Returns ``(array, counts)``: the arrays concatenated (``kind`` ``int`` -> int64, ``float``
    -> float64, which takes integers too; shape ``(total,)`` or ``(total, width)``) and the
    length of each; None when any value is not exactly such an array. Values are decoded
    ``chunk`` at a time, so the memory of one chunk's Python numbers is reused by the next
    (a fresh process spends more on new memory than on parsing).
    """
    integers = integer_column(values, width)
    if integers is not None:
        array, counts = integers
        return array.astype(_DTYPES[kind], copy=False), counts
    number: Any = int if kind is int else int | float  # integers decode faster as int
    item: Any = number if width is None else tuple[(number,) * width]
    parts, counts = [], []
    for lo in range(0, len(values), chunk):
        column = decode_column(values[lo : lo + chunk], list[item])
        if column is None:
            return None
        flat = flatten(column, kind, width)
        if flat is None:
            return None
        parts.append(flat[0])
        counts.append(flat[1])
    if not parts:
        empty = np.zeros((0,) if width is None else (0, width), dtype=_DTYPES[kind])
        return empty, np.zeros(0, dtype=np.int64)
    return np.concatenate(parts), np.concatenate(counts)


_DTYPES = {int: np.int64, float: np.float64}
_NUMBER_BYTES = b"0123456789- \t\n\r"  # what an integer and the whitespace around it are made of
_INT64_DIGITS = 10**18  # numpy saturates beyond int64: numbers this long go the slow way


def integer_column(
    values: Sequence[Raw | bytes], width: int | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Arrays holding integers only, parsed by numpy without a Python object per number.

    Annotation boxes are integers. Deleting every bracket turns the whole column into one
    comma-separated list of integers, which :func:`numpy.fromstring` reads straight into an
    array; the brackets and commas deleted must be exactly those of ``[[n] * width, ...]``
    arrays (or of ``[n, ...]``), which is checked on the text without the numbers, and each
    number must be read whole. ``values`` must be valid JSON (as ``msgspec.Raw`` always is),
    so no number has a leading zero.
    """
    texts = [bytes(v) for v in values]
    joined = b",".join(texts)
    skeleton = joined.translate(None, _NUMBER_BYTES)
    if skeleton.translate(None, b"[],"):
        return None  # a fraction, an exponent, a string, a literal...
    if width is None:
        counts = [t.count(b",") + bool(t.translate(None, b"[] \t\n\r")) for t in texts]
        expected = b",".join(b"[" + b"," * (n - 1) + b"]" if n else b"[]" for n in counts)
    else:
        counts = [t.count(b"[") - 1 for t in texts]
        row = b"[" + b"," * (width - 1) + b"]"
        expected = b",".join(b"[" + b",".join([row] * n) + b"]" for n in counts)
    if skeleton != expected:
        return None
    total = sum(counts) * (width or 1)
    if not total:
        return np.zeros((0,) if width is None else (0, width), np.int64), np.array(counts, np.int64)
    kept = joined if all(counts) else b",".join(t for t, n in zip(texts, counts) if n)
    numbers = kept.translate(None, b"[]")  # an empty array would leave two commas in a row
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a number not read to its end warns, then stops
        try:
            array = np.fromstring(numbers, dtype=np.int64, sep=",")
        except (ValueError, DeprecationWarning):
            return None  # not integers after all (1-2, --1, ...)
    if array.size != total or np.any((array >= _INT64_DIGITS) | (array <= -_INT64_DIGITS)):
        return None
    return (array if width is None else array.reshape(-1, width)), np.array(counts, dtype=np.int64)


def flatten(
    column: Sequence[Sequence[Any]], kind: type, width: int | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Decoded lists of numbers (or of ``width``-tuples) as one array and their lengths.

    None when an integer does not fit int64.
    """
    counts = np.fromiter(map(len, column), dtype=np.int64, count=len(column))
    flat: Iterable[Any] = itertools.chain.from_iterable(column)
    if width is not None:
        flat = itertools.chain.from_iterable(flat)
    try:
        array = np.fromiter(flat, dtype=_DTYPES[kind], count=int(counts.sum()) * (width or 1))
    except OverflowError:  # an integer beyond int64
        return None
    return (array if width is None else array.reshape(-1, width)), counts
