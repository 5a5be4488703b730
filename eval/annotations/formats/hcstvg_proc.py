"""``hcstvg-proc``: TubeDETR's preprocessed HC-STVG ``{split}_proc.json``.

A list of ``{original_video_id, frame_count, width, height, tube_start_frame, tube_end_frame,
caption, video_id, trajectory}`` where ``tube_start_frame`` is the official ``st_frame`` copied
unchanged and ``tube_end_frame = st_frame + len(trajectory)``. It is read with the same 1-based
interpretation as the raw json (:mod:`.hcstvg_common`), so both files give identical queries.

Example:
    >>> from tubescope.eval.annotations.formats import get_format
    >>> proc = [{"original_video_id": "7_clip", "frame_count": 500, "width": 640,
    ...          "height": 360, "tube_start_frame": 121, "tube_end_frame": 122,
    ...          "caption": "a woman turns", "video_id": 0, "trajectory": [[1, 2, 3, 4]]}]
    >>> get_format("hcstvg-proc").load(proc, None, None)[0].span
    (120, 121)
"""

from __future__ import annotations

import os
from typing import Any

from tubescope.errors import AnnotationError
from tubescope.eval.annotations.formats.hcstvg_common import (
    check_tube_fits,
    check_unique,
    hcstvg_query,
)
from tubescope.eval.annotations.formats.registry import AnnotationFormat
from tubescope.eval.annotations.record import Fields, GTQuery, video_key

__all__ = ["HCSTVG_PROC", "load"]


def load(
    data: Any, path: str | os.PathLike[str] | None = None, boxes_dir: Any = None
) -> list[GTQuery]:
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
        frame_count = rec.integer("frame_count", minimum=1)
        check_tube_fits(rec, st_frame, len(xywh), frame_count, "tube_end_frame")
        index = rec.integer("video_id", minimum=0) if rec.has("video_id") else position
        key = video_key(name)
        check_unique(path, seen_names, key, name, "original_video_id")
        check_unique(path, seen_ids, str(index), name, "video_id")
        queries.append(
            hcstvg_query(
                path,
                key,
                rec.string("caption"),
                frame_count,
                (rec.integer("width", 1), rec.integer("height", 1)),
                st_frame,
                xywh,
                index,
            )
        )
    return queries


HCSTVG_PROC = AnnotationFormat(
    name="hcstvg-proc",
    family="hcstvg",
    description='TubeDETR *_proc.json ([{"tube_start_frame", "trajectory", ...}])',
    shape="records",
    signature=("tube_start_frame", "trajectory"),
    load=load,
)
