"""What the two HC-STVG formats share: the 1-based ``st_frame`` convention and the query build.

``st_frame`` is the **1-based** index of the first boxed frame (the official README: "start
with 1"), so in our conventions ``start = st_frame - 1`` and ``end = start + len(bbox)``
(half-open), with ``bbox[k]`` on frame ``start + k``; ``fps = img_num / 20`` (every clip is
20 s long). The tube must end inside the video: ``st_frame - 1 + len(bbox) <= img_num``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tubescope.errors import AnnotationError
from tubescope.eval.annotations.record import Fields, GTQuery
from tubescope.eval.boxes import xywh_to_xyxy

__all__ = ["check_tube_fits", "check_unique", "hcstvg_query"]


def check_tube_fits(rec: Fields, st_frame: int, boxes: int, frame_count: int, name: str) -> None:
    """The tube of ``boxes`` boxes from 1-based ``st_frame`` must end by frame ``frame_count``."""
    last = st_frame + boxes - 1  # 1-based
    if last > frame_count:
        raise rec.fail(
            f"the tube runs past the video: {boxes} boxes from st_frame {st_frame} end on frame "
            f"{last} (1-based), but the video has {frame_count} frames",
            name,
        )


def check_unique(
    path: str | None, seen: dict[str, Any], key: str, record: Any, what: str
) -> None:
    """Refuse a second record with the same ``key`` (naming both records)."""
    if key in seen:
        raise AnnotationError(
            path, f"{what} {key!r} also used by record {seen[key]!r}", record=record, field=what
        )
    seen[key] = record


def hcstvg_query(
    path: str | os.PathLike[str] | None,
    query_id: str,
    caption: str,
    frame_count: int,
    size: tuple[int, int],
    st_frame: int,
    xywh: np.ndarray,
    index: int,
) -> GTQuery:
    """The :class:`GTQuery` of one HC-STVG record (validated by its constructor)."""
    start = st_frame - 1
    end = start + len(xywh)
    return GTQuery(
        query_id=query_id,
        video_id=query_id,
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
        source=None if path is None else os.fspath(path),
    )
