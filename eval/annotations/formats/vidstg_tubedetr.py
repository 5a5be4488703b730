"""``vidstg-tubedetr``: TubeDETR's preprocessed VidSTG ``{split}.json``.

``{"videos": [{original_video_id, frame_count, fps, width, height, start_frame, end_frame
(used_segment), tube_start_frame, tube_end_frame (temporal_gt), caption, target_id, video_id,
qtype}], "trajectories": {vid: {str(tid): {str(frame): {"bbox": [x, y, w, h]}}}}}``. Boxes are
converted ``x + w, y + h`` like TubeDETR does. Conventions: :mod:`.vidstg_common`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from tubescope.errors import AnnotationError
from tubescope.eval.annotations.formats.registry import AnnotationFormat
from tubescope.eval.annotations.formats.vidstg_common import Track, check_span, gt_from_track
from tubescope.eval.annotations.record import Fields, GTQuery, RepeatedKeys, check_xywh
from tubescope.eval.boxes import xywh_to_xyxy

__all__ = ["VIDSTG_TUBEDETR", "load"]


def _no_repeats(path: str | None, data: Any, vid: str, where: str) -> None:
    if isinstance(data, RepeatedKeys):
        raise AnnotationError(
            path,
            "repeated key (JSON keeps only the last value)",
            record=vid,
            field=f"{where}[{data.repeated[0]!r}]",
        )


def _track(
    path: str | None, trajectories: Mapping[str, Any], vid: str, tid: int, fail: Any
) -> Track:
    per_video = trajectories.get(vid)
    if not isinstance(per_video, Mapping):
        raise fail(f"trajectories has no video {vid!r}", "original_video_id")
    _no_repeats(path, per_video, vid, f"trajectories[{vid!r}]")
    track = per_video.get(str(tid))
    if not isinstance(track, Mapping):
        raise fail(f"trajectories[{vid!r}] has no target {tid}", "target_id")
    where = f"trajectories[{vid!r}][{str(tid)!r}]"
    _no_repeats(path, track, vid, where)
    keys: list[str] = []
    frames: list[int] = []
    bboxes: list[Any] = []
    for frame_key, obj in track.items():
        try:
            frame = int(frame_key)
        except ValueError:
            raise AnnotationError(
                path, "frame keys must be integers", record=vid, field=f"{where}[{frame_key!r}]"
            ) from None
        if not isinstance(obj, Mapping) or "bbox" not in obj:
            raise AnnotationError(
                path,
                "expected an object with a 'bbox'",
                record=vid,
                field=f"{where}[{frame_key!r}]",
            )
        keys.append(frame_key)
        frames.append(frame)
        bboxes.append(obj["bbox"])

    def box_fail(problem: str, name: str) -> AnnotationError:
        i = int(name.split("[", 1)[1].rstrip("]")) if "[" in name else None
        field = f"{where}[{keys[i]!r}].bbox" if i is not None else where
        return AnnotationError(path, problem, record=vid, field=field)

    xyxy = xywh_to_xyxy(check_xywh(bboxes, box_fail, "bbox", allow_empty=True))
    order = np.argsort(np.asarray(frames, dtype=np.int64), kind="stable")
    return np.asarray(frames, dtype=np.int64)[order], xyxy[order].reshape(-1, 4)


def load(
    data: Any, path: str | os.PathLike[str] | None = None, boxes_dir: Any = None
) -> list[GTQuery]:
    """Queries of a TubeDETR-style VidSTG ``{split}.json`` (already parsed)."""
    path = os.fspath(path) if path is not None else None
    top = Fields(path, "<top level>", data)
    videos = top.sequence("videos")
    trajectories = top.get("trajectories")
    if not isinstance(trajectories, Mapping):
        raise top.fail("expected an object", "trajectories")
    if isinstance(trajectories, RepeatedKeys):
        raise top.fail(
            f"repeated video {trajectories.repeated[0]!r} (JSON keeps only the last)",
            "trajectories",
        )
    cache: dict[tuple[str, int], Track] = {}
    queries: list[GTQuery] = []
    seen: dict[int, int] = {}
    for position, raw in enumerate(videos):
        rec = Fields(path, position, raw)
        vid = rec.string("original_video_id")
        start, end = rec.integer("tube_start_frame", 0), rec.integer("tube_end_frame", 0)
        if end <= start:
            raise rec.fail(f"tube_end_frame {end} <= tube_start_frame {start}", "tube_end_frame")
        frame_count = rec.integer("frame_count", 1)
        segment = (rec.integer("start_frame", 0), rec.integer("end_frame", 0))
        check_span(rec, end, frame_count, "tube_end_frame", segment[1], "end_frame")
        qtype = rec.string("qtype")
        if qtype not in ("declarative", "interrogative"):
            raise rec.fail(f"expected 'declarative' or 'interrogative', got {qtype!r}", "qtype")
        index = rec.integer("video_id", 0) if rec.has("video_id") else position
        if index in seen:
            raise rec.fail(f"video_id {index} also used by record {seen[index]}", "video_id")
        seen[index] = position
        target = rec.integer("target_id")
        key = (vid, target)
        if key not in cache:
            cache[key] = _track(path, trajectories, vid, target, rec.fail)
        frames, boxes, end_box = gt_from_track(cache[key], start, end)
        if len(frames) == 0:
            raise rec.fail(f"target {target} has no box inside [{start}, {end})", "target_id")
        queries.append(
            GTQuery(
                query_id=str(index),
                video_id=vid,
                query=rec.string("caption"),
                qtype=qtype,
                dataset="vidstg",
                frame_count=frame_count,
                fps=rec.number("fps", positive=True),
                width=rec.integer("width", 1),
                height=rec.integer("height", 1),
                start=start,
                end=end,
                frames=frames,
                boxes=boxes,
                index=index,
                segment=segment,
                end_box=end_box,
                target_id=target,
                source=path,
            )
        )
    return queries


VIDSTG_TUBEDETR = AnnotationFormat(
    name="vidstg-tubedetr",
    family="vidstg",
    description='TubeDETR VidSTG {split}.json ({"videos": [...], "trajectories": {...}})',
    shape="parts",
    signature=("videos", "trajectories"),
    load=load,
)
