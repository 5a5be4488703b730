"""HC-STVG ground truth: the official raw json (v1 and v2) and TubeDETR's ``*_proc.json``.

Official raw json (v1 ``test.json``; v2 ``val_v2.json``): an object keyed by video file name::

    {"55_vfjywN5CN0Y.mp4": {"bbox": [[x, y, w, h], ...], "st_frame": 268, "img_num": 600,
                            "caption": "...", "width": 640, "height": 360,
                            "st_time": 8.91, "ed_time": 17.54}}

v2 writes ``"English"`` instead of ``"caption"`` and ``"img_size": [H, W]`` instead of
``width``/``height``; both spellings are accepted in every record. ``st_frame`` is the
**1-based** index of the first boxed frame (official README: "start with 1"), so in our
conventions ``start = st_frame - 1`` and ``end = start + len(bbox)`` (half-open), with
``bbox[k]`` on frame ``start + k``. ``fps = img_num / 20`` (every clip is 20 s long).

TubeDETR ``{split}_proc.json``: a list of ``{original_video_id, frame_count, width, height,
tube_start_frame, tube_end_frame, caption, video_id, trajectory}`` where
``tube_start_frame`` is the official ``st_frame`` copied unchanged and ``tube_end_frame =
st_frame + len(trajectory)``; it is read with the same 1-based interpretation, so both files
give identical :class:`GTQuery` records.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tubescope.errors import AnnotationError
from tubescope.eval.annotations.record import Fields, GTQuery, video_key
from tubescope.eval.boxes import xywh_to_xyxy

__all__ = ["is_hcstvg_proc", "is_hcstvg_raw", "load_hcstvg_proc", "load_hcstvg_raw"]


def is_hcstvg_raw(data: Any) -> bool:
    """An object of objects that carry ``st_frame`` and ``bbox``."""
    if not isinstance(data, dict) or not data:
        return False
    first = next(iter(data.values()))
    return isinstance(first, dict) and "st_frame" in first and "bbox" in first


def is_hcstvg_proc(data: Any) -> bool:
    """A list of objects that carry ``tube_start_frame`` and ``trajectory``."""
    return (
        isinstance(data, list)
        and bool(data)
        and isinstance(data[0], dict)
        and "tube_start_frame" in data[0]
        and "trajectory" in data[0]
    )


def _size(rec: Fields) -> tuple[int, int]:
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


def _query(
    path: str | None,
    query_id: str,
    video_id: str,
    caption: str,
    frame_count: int,
    size: tuple[int, int],
    st_frame: int,
    xywh: np.ndarray,
    index: int,
) -> GTQuery:
    start = st_frame - 1
    end = start + len(xywh)
    return GTQuery(
        query_id=query_id,
        video_id=video_id,
        query=caption,
        qtype=None,
        dataset="hcstvg",
        frame_count=frame_count,
        fps=frame_count / 20,
        width=size[0],
        height=size[1],
        start=start,
        end=end,
        frames=np.arange(start, end, dtype=np.int64),
        boxes=xywh_to_xyxy(xywh),
        index=index,
        st_frame=st_frame,
        source=path,
    )


def _check_unique(path: str | None, seen: dict[str, Any], key: str, record: Any, what: str) -> None:
    if key in seen:
        raise AnnotationError(
            path, f"{what} {key!r} also used by record {seen[key]!r}", record=record, field=what
        )
    seen[key] = record


def load_hcstvg_raw(data: Any, path: str | os.PathLike[str] | None = None) -> list[GTQuery]:
    """Queries of an official HC-STVG v1/v2 json (already parsed). ``path`` is for messages."""
    path = os.fspath(path) if path is not None else None
    if not isinstance(data, dict):
        raise AnnotationError(
            path, f"expected an object keyed by video name, got {type(data).__name__}"
        )
    queries: list[GTQuery] = []
    seen: dict[str, Any] = {}
    for index, (name, raw) in enumerate(data.items()):
        rec = Fields(path, name, raw)
        st_frame = rec.integer("st_frame", minimum=1)
        frame_count = rec.integer("img_num", minimum=1)
        xywh = rec.xywh_list("bbox")
        caption = rec.string(rec.first_of("caption", "English"))
        key = video_key(name)
        _check_unique(path, seen, key, name, "video")
        queries.append(
            _query(path, key, key, caption, frame_count, _size(rec), st_frame, xywh, index)
        )
    return queries


def load_hcstvg_proc(data: Any, path: str | os.PathLike[str] | None = None) -> list[GTQuery]:
    """Queries of a TubeDETR ``*_proc.json`` for HC-STVG (already parsed)."""
    path = os.fspath(path) if path is not None else None
    if not isinstance(data, list):
        raise AnnotationError(path, f"expected a list of videos, got {type(data).__name__}")
    queries: list[GTQuery] = []
    seen_names: dict[str, Any] = {}
    seen_ids: dict[str, Any] = {}
    for position, raw in enumerate(data):
        rec = Fields(path, position, raw)
        name = rec.string("original_video_id")
        rec.record = name
        st_frame = rec.integer("tube_start_frame", minimum=1)
        end_frame = rec.integer("tube_end_frame")
        xywh = rec.xywh_list("trajectory")
        if end_frame - st_frame != len(xywh):
            raise rec.fail(
                f"tube_end_frame - tube_start_frame = {end_frame - st_frame} but the trajectory "
                f"has {len(xywh)} boxes",
                "tube_end_frame",
            )
        index = rec.integer("video_id", minimum=0) if rec.has("video_id") else position
        key = video_key(name)
        _check_unique(path, seen_names, key, name, "original_video_id")
        _check_unique(path, seen_ids, str(index), name, "video_id")
        queries.append(
            _query(
                path,
                key,
                key,
                rec.string("caption"),
                rec.integer("frame_count", minimum=1),
                (rec.integer("width", 1), rec.integer("height", 1)),
                st_frame,
                xywh,
                index,
            )
        )
    return queries
