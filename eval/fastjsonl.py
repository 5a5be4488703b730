"""The fast reader of tubescope JSONL prediction files (the format ``tubescope run`` writes).

Each line ``{"video_id", "query_id"?, "tube", "qtype"?}`` is decoded by msgspec into typed
records, and every tube's frames and boxes go into one numpy array per file, validated as
whole arrays: what :class:`~tubescope.Tube` checks one tube at a time (an integer span with
``0 <= start < end``, frames strictly increasing inside it, one finite ``[x1, y1, x2, y2]`` box
per frame with ``x1 <= x2`` and ``y1 <= y2``, a positive fps, ordered times) is checked here
for all tubes at once. (msgspec refuses numbers beyond float64, so every value is finite.)

Like :mod:`tubescope.eval.fastjson` this is an accelerator: :func:`read_jsonl_fast` returns
None whenever a file is not that simple case (a full GroundingResult per line, an unknown key,
a float frame number, any invalid value...), and the precise reader
(:func:`tubescope.eval.predictions.parse_jsonl`) then reads it and names the line and field
at fault.

Example:
    >>> line = b'{"video_id": "v", "tube": {"start_frame": 3, "end_frame": 7, "frames": [3],'
    >>> line += b' "boxes": [[0, 0, 5, 5]]}}'
    >>> [p] = read_jsonl_fast(line + b"\\n", "pred.jsonl")
    >>> p.span, p.line, p.boxes.tolist()
    ((3.0, 7.0), 1, [[0.0, 0.0, 5.0, 5.0]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from tubescope.eval.fastjson import flatten, without_gc
from tubescope.eval.predictions import Prediction
from tubescope.types.boxseq import readonly
from tubescope.types.schema import SCHEMA_VERSION

__all__ = ["Columns", "jsonl_columns", "predictions_from", "read_jsonl_columns", "read_jsonl_fast"]

_Box = tuple[float, float, float, float]


class _Tube(msgspec.Struct, forbid_unknown_fields=True):
    start_frame: int
    end_frame: int
    frames: list[int]
    boxes: list[_Box]
    fps: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    score: float | None = None
    track_id: int | str | None = None


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    tube: _Tube | None
    video_id: str | int | None = None
    query_id: str | int | None = None
    qtype: Any = None  # accepted and ignored (the category comes from the ground truth)
    schema_version: Any = None  # checked by the precise reader when it is not the current one


_DECODER = msgspec.json.Decoder(_Line)
# line breaks of str.splitlines() that are not b"\n" (they would renumber the lines)
_OTHER_BREAKS = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


def _optional(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _pieces(text: bytes, size: int) -> list[tuple[int, int, int, int]]:
    """``(start, stop, first line number, line breaks)`` of pieces of about ``size`` bytes, cut
    after a line break."""
    out, start, line = [], 0, 1
    while start < len(text):
        stop = text.find(b"\n", start + size)
        stop = len(text) if stop < 0 else stop + 1
        breaks = text.count(b"\n", start, stop)
        out.append((start, stop, line, breaks))
        line += breaks
        start = stop
    return out


@dataclass(frozen=True)
class Columns:
    """The predictions of a JSONL file, validated, as columns (what :func:`predictions_from`
    turns into :class:`Prediction` objects): cheap to send between processes.

    ``lines``, ``query_ids`` and ``video_ids`` have one entry per prediction, ``has_tube`` says
    which have a tube; the other arrays are over those tubes (``counts`` boxes each, in
    ``frames`` and ``boxes``).
    """

    lines: list[int]
    query_ids: list[str | None]
    video_ids: list[str | None]
    has_tube: list[bool]
    starts: np.ndarray
    ends: np.ndarray
    counts: np.ndarray
    frames: np.ndarray
    boxes: np.ndarray


def read_jsonl_fast(
    text: bytes, path: str | None, *, chunk_bytes: int = 4 << 20
) -> list[Prediction] | None:
    """The predictions of a tubescope JSONL file, or None (read it with the precise reader).

    The file is decoded ``chunk_bytes`` at a time, so the Python numbers of one piece are
    freed before the next is decoded.
    """
    columns = jsonl_columns(text, chunk_bytes=chunk_bytes)
    return None if columns is None else predictions_from(columns, path)


def jsonl_columns(text: bytes, *, chunk_bytes: int = 4 << 20) -> Columns | None:
    """The validated columns of a tubescope JSONL file's text, or None (see the module)."""
    if b"\r" in text and text.count(b"\r") != text.count(b"\r\n"):
        return None  # a lone "\r" is a line break to str.splitlines(), not to b"\n"
    if not text.isascii() and any(mark in text for mark in _OTHER_BREAKS):
        return None  # so are U+0085, U+2028 and U+2029
    view = memoryview(text)
    pieces: list[Columns] = []
    with without_gc():
        for start, stop, first, breaks in _pieces(text, chunk_bytes):
            piece = _read_piece(text, view[start:stop], start, stop, first, breaks)
            if piece is None:
                return None
            pieces.append(piece)
    if len(pieces) == 1:
        return pieces[0]
    return Columns(
        lines=[n for p in pieces for n in p.lines],
        query_ids=[q for p in pieces for q in p.query_ids],
        video_ids=[v for p in pieces for v in p.video_ids],
        has_tube=[t for p in pieces for t in p.has_tube],
        **{
            name: np.concatenate([getattr(p, name) for p in pieces])
            for name in ("starts", "ends", "counts", "frames", "boxes")
        },
    )


def read_jsonl_columns(path: str) -> Columns | None:
    """:func:`jsonl_columns` of the file at ``path``; None when it cannot be read that way."""
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    return jsonl_columns(text) if text[:1] == b"{" else None


def _line_numbers(
    text: bytes, start: int, stop: int, first: int, breaks: int, decoded: int
) -> list[int]:
    """The numbers of the non-blank lines of ``text[start:stop]`` (the first is ``first``)."""
    segments = breaks + (text[stop - 1 : stop] != b"\n")
    if segments == decoded:  # no blank line: consecutive numbers
        return list(range(first, first + decoded))
    lines = text[start:stop].split(b"\n")
    return [n for n, line in enumerate(lines, start=first) if line and not line.isspace()]


def _read_piece(
    text: bytes, piece: memoryview, start: int, stop: int, first_line: int, breaks: int
) -> Columns | None:
    try:
        lines = _DECODER.decode_lines(piece)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    numbers = _line_numbers(text, start, stop, first_line, breaks, len(lines))
    if len(lines) != len(numbers):
        return None
    if any(line.video_id is None and line.query_id is None for line in lines):
        return None
    if any(line.schema_version not in (None, SCHEMA_VERSION) for line in lines):
        return None  # the precise reader says what is wrong with it
    tubes = [line.tube for line in lines if line.tube is not None]
    starts = np.fromiter((t.start_frame for t in tubes), dtype=np.int64, count=len(tubes))
    ends = np.fromiter((t.end_frame for t in tubes), dtype=np.int64, count=len(tubes))
    frames_and_counts = flatten([t.frames for t in tubes], int)
    boxes_and_counts = flatten([t.boxes for t in tubes], float, 4)
    if frames_and_counts is None or boxes_and_counts is None:
        return None
    frames, counts = frames_and_counts
    boxes, box_counts = boxes_and_counts
    if not np.array_equal(counts, box_counts):
        return None
    owner = np.repeat(np.arange(len(tubes)), counts)
    same_tube = owner[1:] == owner[:-1]  # consecutive frames of one tube
    fps = _optional([t.fps for t in tubes])
    t0, t1 = _optional([t.start_time for t in tubes]), _optional([t.end_time for t in tubes])
    if (
        np.any(starts < 0)
        or np.any(ends <= starts)
        or np.any(frames < starts[owner])
        or np.any(frames >= ends[owner])
        or np.any(np.diff(frames)[same_tube] <= 0)
        or np.any(boxes[:, 0] > boxes[:, 2])
        or np.any(boxes[:, 1] > boxes[:, 3])
        or np.any(fps <= 0)  # nan (no fps) compares False
        or np.any(t1 < t0)
    ):
        return None
    return Columns(
        lines=numbers,
        query_ids=[None if line.query_id is None else str(line.query_id) for line in lines],
        video_ids=[None if line.video_id is None else str(line.video_id) for line in lines],
        has_tube=[line.tube is not None for line in lines],
        starts=starts,
        ends=ends,
        counts=counts,
        frames=frames,
        boxes=boxes,
    )


def predictions_from(columns: Columns, path: str | None) -> list[Prediction]:
    """The :class:`Prediction` objects of validated columns (read-only arrays, shared)."""
    frames, boxes, counts = readonly(columns.frames), readonly(columns.boxes), columns.counts
    offsets = (np.cumsum(counts) - counts).tolist()
    sizes, starts, ends = counts.tolist(), columns.starts.tolist(), columns.ends.tolist()
    out: list[Prediction] = []
    k = 0
    for number, query_id, video_id, has_tube in zip(
        columns.lines, columns.query_ids, columns.video_ids, columns.has_tube
    ):
        if not has_tube:
            out.append(
                Prediction.from_tube(
                    None, query_id=query_id, video_id=video_id, path=path, line=number,
                    origin="jsonl",
                )
            )
            continue
        lo = offsets[k]
        hi = lo + sizes[k]
        out.append(
            Prediction.trusted(
                start=float(starts[k]),
                end=float(ends[k]),
                frames=frames[lo:hi],
                boxes=boxes[lo:hi],
                query_id=query_id,
                video_id=video_id,
                path=path,
                line=number,
                origin="jsonl",
            )
        )
        k += 1
    return out
