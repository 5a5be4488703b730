"""``hcstvg-raw``: the official HC-STVG json (v1 ``test.json``, v2 ``val_v2.json``).

An object keyed by video file name::

    {"55_vfjywN5CN0Y.mp4": {"bbox": [[x, y, w, h], ...], "st_frame": 268, "img_num": 600,
                            "caption": "...", "width": 640, "height": 360,
                            "st_time": 8.91, "ed_time": 17.54}}

v2 writes ``"English"`` instead of ``"caption"`` and ``"img_size": [H, W]`` instead of
``width``/``height``; both spellings are read in every record, and the dataset table tells v1
from v2 by them (:class:`~tubescope.eval.datasets.Dataset` ``fields``). The query id is the
video name without its extension. Conventions: :mod:`.hcstvg_common`.

Example:
    >>> from tubescope.eval.annotations.formats import get_format
    >>> raw = {"7_clip.mp4": {"img_num": 500, "width": 640, "height": 360, "st_frame": 121,
    ...        "bbox": [[210, 40, 90, 300], [212, 41, 90, 299]], "caption": "a woman turns"}}
    >>> [q] = get_format("hcstvg-raw").load(raw, None, None)
    >>> q.query_id, q.span, q.boxes[0].tolist()
    ('7_clip', (120, 122), [210.0, 40.0, 300.0, 340.0])
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
import numpy as np

from tubescope.errors import AnnotationError
from tubescope.eval.annotations.formats.hcstvg_common import (
    check_tube_fits,
    check_unique,
    hcstvg_query,
)
from tubescope.eval.annotations.formats.registry import AnnotationFormat, FastLoad
from tubescope.eval.annotations.record import Fields, GTQuery, check_no_repeats, video_key
from tubescope.eval.boxes import xywh_to_xyxy
from tubescope.eval.fastjson import decode_object_of_records, numeric_column, without_gc
from tubescope.types.boxseq import readonly

__all__ = ["HCSTVG_RAW", "load", "load_fast"]


def _size(rec: Fields) -> tuple[int, int]:
    """``(width, height)`` from v1's ``width``/``height`` or v2's ``img_size = [H, W]``."""
    if rec.has("width") or rec.has("height"):
        return rec.integer("width", 1), rec.integer("height", 1)
    size = rec.get(rec.first_of("img_size", "width"))
    if (
        not isinstance(size, list)
        or len(size) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size)
    ):
        raise rec.fail(f"expected [height, width] positive integers, got {size!r}", "img_size")
    return int(size[1]), int(size[0])


def load(
    data: Any, path: str | os.PathLike[str] | None = None, boxes_dir: Any = None
) -> list[GTQuery]:
    """Queries of an official HC-STVG v1/v2 json (already parsed). ``path`` is for messages."""
    path = os.fspath(path) if path is not None else None
    if not isinstance(data, dict):
        raise AnnotationError(
            path, f"expected an object keyed by video name, got {type(data).__name__}"
        )
    check_no_repeats(data, path, "video")
    queries: list[GTQuery] = []
    seen: dict[str, Any] = {}
    for index, (name, raw) in enumerate(data.items()):
        rec = Fields(path, name, raw)
        st_frame = rec.integer("st_frame", minimum=1)
        frame_count = rec.integer("img_num", minimum=1)
        xywh = rec.xywh_list("bbox")
        check_tube_fits(rec, st_frame, len(xywh), frame_count, "bbox")
        caption = rec.string(rec.first_of("caption", "English"))
        key = video_key(name)
        check_unique(path, seen, key, name, "video")
        queries.append(
            hcstvg_query(path, key, caption, frame_count, _size(rec), st_frame, xywh, index)
        )
    return queries


_UNSET = msgspec.UNSET


class _Record(msgspec.Struct):
    """The fields the loader reads (others are ignored, as by :func:`load`)."""

    st_frame: int
    img_num: int
    bbox: msgspec.Raw  # decoded as a column (fastjson.numeric_column)
    caption: str | msgspec.UnsetType = _UNSET
    English: str | msgspec.UnsetType = _UNSET
    width: int | msgspec.UnsetType = _UNSET
    height: int | msgspec.UnsetType = _UNSET
    img_size: tuple[int, int] | msgspec.UnsetType = _UNSET


_DECODER = msgspec.json.Decoder(dict[str, _Record])


_READ = tuple(_Record.__struct_fields__)
# bytes that no field name the loader reads holds: deleting them keeps every '"name"' intact
# and can only join other bytes into extra matches (which send the file to the precise reader)
_NOT_IN_KEYS = b"0123456789,[] \t\n\r-."


def _columns(records: list[_Record]) -> dict[str, list[Any]]:
    """Each field the loader reads, as a list over the records (UNSET where a record lacks it)."""
    return {name: [getattr(r, name) for r in records] for name in _READ}


def _field_sets(columns: dict[str, list[Any]]) -> list[frozenset[str]]:
    """Each record seen as the set of its fields (``"caption" in record``), one set per kind."""
    present = [[v is not _UNSET for v in column] for column in columns.values()]
    kinds: dict[tuple[bool, ...], frozenset[str]] = {}
    out = []
    for pattern in zip(*present):
        fields = kinds.get(pattern)
        if fields is None:
            fields = kinds[pattern] = frozenset(n for n, p in zip(columns, pattern) if p)
        out.append(fields)
    return out


def _each_key_once(text: bytes, columns: dict[str, list[Any]]) -> bool:
    """No video and no field the loader reads appears twice (``json`` would keep the last).

    Without ``\\u`` escapes a key can only be written as the literal ``"name"``, so counting
    those substrings bounds the key's occurrences from above; equality with the records that
    hold the field proves there is no repeat (a repeated video repeats its fields too). With
    escapes, the general colon accounting of :mod:`tubescope.eval.fastjson` decides.
    """
    if b"\\u" in text:
        return decode_object_of_records(text) is not None
    keys = text.translate(None, _NOT_IN_KEYS)  # the names stay whole; far fewer bytes to scan
    for name, column in columns.items():
        held = len(column) - column.count(_UNSET)
        if keys.count(b'"%s"' % name.encode()) != held:
            return False
    return True


def load_fast(text: bytes, path: str | None = None) -> FastLoad | None:
    """The same queries, decoded by msgspec and checked as whole arrays, or None.

    None whenever anything differs from a clean file (a missing or mistyped field, mixed v1/v2
    spellings, a bad box, a repeated key): :func:`load` then reads the file and says what.
    """
    with without_gc():
        return _load_fast(text, path)


def _load_fast(text: bytes, path: str | None) -> FastLoad | None:
    try:
        view = _DECODER.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    records = list(view.values())
    if not records:
        return None
    columns = _columns(records)
    if not _each_key_once(text, columns):
        return None
    widths, heights, sizes = columns["width"], columns["height"], columns["img_size"]
    if _UNSET in widths or _UNSET in heights:  # v2: every record has img_size = [H, W] instead
        if widths.count(_UNSET) != len(records) or heights.count(_UNSET) != len(records):
            return None
        if _UNSET in sizes:
            return None
        heights = [size[0] for size in sizes]
        widths = [size[1] for size in sizes]
    captions = [c if c is not _UNSET else e for c, e in zip(columns["caption"], columns["English"])]
    if _UNSET in captions:
        return None
    flat = numeric_column(columns["bbox"], float, 4)
    if flat is None:
        return None
    xywh, counts = flat
    try:
        st = np.array(columns["st_frame"], dtype=np.int64)
        img = np.array(columns["img_num"], dtype=np.int64)
    except OverflowError:
        return None
    if (
        st.min() < 1
        or img.min() < 1
        or min(widths) < 1  # type: ignore[type-var]
        or min(heights) < 1  # type: ignore[type-var]
        or counts.min() < 1
        or np.any(st - 1 + counts > img)
        or np.any(xywh[:, 2:] < 0)
    ):
        return None
    keys = [video_key(name) for name in view]
    if len(set(keys)) != len(keys):
        return None
    xyxy = readonly(xywh_to_xyxy(xywh, inplace=True))
    ends = np.cumsum(counts)
    source = None if path is None else os.fspath(path)
    queries = []
    for i, key in enumerate(keys):
        start = int(st[i]) - 1
        n = int(counts[i])
        queries.append(
            GTQuery.trusted(
                query_id=key,
                video_id=key,
                query=captions[i],
                qtype=None,
                dataset="hcstvg",
                frame_count=int(img[i]),
                fps=int(img[i]) / 20,
                width=widths[i],
                height=heights[i],
                start=start,
                end=start + n,
                frames=readonly(np.arange(start, start + n, dtype=np.int64)),
                boxes=xyxy[ends[i] - n : ends[i]],
                index=i,
                st_frame=start + 1,
                source=source,
            )
        )
    return FastLoad(dict(zip(view, _field_sets(columns))), queries)


HCSTVG_RAW = AnnotationFormat(
    name="hcstvg-raw",
    family="hcstvg",
    description='HC-STVG raw json ({video: {"st_frame", "bbox", "img_num", ...}})',
    shape="records-by-key",
    signature=("st_frame", "bbox", "img_num"),
    load=load,
    fast=load_fast,
)
