"""VidSTG ground truth: the official ``*_annotations.json`` + VidOR boxes, and TubeDETR's json.

Official sentence file (``annotations/{split}_annotations.json``): a list of entries, one per
clip and relation, with ``vid, fps, frame_count, width, height, used_segment{begin_fid,end_fid},
temporal_gt{begin_fid,end_fid}, questions[...], captions[...]`` (each sentence
``{description, type, target_id}``). Frames are 0-based and ``temporal_gt.end_fid`` is
**exclusive** (TubeDETR's preprocessing asserts ``end_fid - 1 <= last annotated frame``), so
the GT span is ``[begin_fid, end_fid)`` unchanged. Every sentence is its own query: for each
entry, its ``questions`` (interrogative) and then its ``captions`` (declarative), numbered in
that order over the whole file, which is TubeDETR's integer ``video_id`` and our ``query_id``.

Boxes are not in VidSTG: they come from the VidOR per-video json
(``trajectories[frame] = [{"tid", "bbox": {xmin, ymin, xmax, ymax}}, ...]``). The loader looks
the file up as ``<boxes_dir>/**/<vid>.json`` (any depth: VidOR ships
``annotation/validation/<group>/<vid>.json``; VidSTG test = VidOR validation). A ``vid`` with no
file, or with two files of that name, is an :class:`AnnotationError`.

TubeDETR ``{split}.json``: ``{"videos": [{original_video_id, frame_count, fps, width, height,
start_frame, end_frame (used_segment), tube_start_frame, tube_end_frame (temporal_gt), caption,
target_id, video_id, qtype}], "trajectories": {vid: {str(tid): {str(frame): {"bbox": [x, y, w,
h]}}}}}``. Boxes are converted ``x + w, y + h`` like TubeDETR does.

GT frames are the target's annotated frames inside the span (VidOR tubes normally have no
holes; a hole is simply not an evaluated frame). The target's box on frame ``end_fid``, when
annotated, is kept as :attr:`GTQuery.end_box` because STCAT treats ``end_fid`` as inclusive.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.errors import AnnotationError
from tubescope.eval.annotations.record import Fields, GTQuery, check_xywh
from tubescope.eval.boxes import xywh_to_xyxy
from tubescope.jsonio import read_json

__all__ = [
    "is_vidstg_official",
    "is_vidstg_tubedetr",
    "load_vidstg_official",
    "load_vidstg_tubedetr",
]

_Track = tuple[np.ndarray, np.ndarray]  # frames (sorted int64), xyxy boxes


def is_vidstg_official(data: Any) -> bool:
    return (
        isinstance(data, list)
        and bool(data)
        and isinstance(data[0], dict)
        and "temporal_gt" in data[0]
    )


def is_vidstg_tubedetr(data: Any) -> bool:
    return isinstance(data, dict) and "videos" in data and "trajectories" in data


def _gt_from_track(
    track: _Track, start: int, end: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    frames, boxes = track
    lo, hi = np.searchsorted(frames, [start, end])
    end_box = boxes[hi] if hi < len(frames) and frames[hi] == end else None
    return frames[lo:hi], boxes[lo:hi], end_box


class _VidorBoxes:
    """Lazy index of ``<root>/**/<vid>.json`` and a per-video cache of target tracks."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise AnnotationError(self.root, "VidOR box directory not found (or not a directory)")
        self._files: dict[str, list[Path]] | None = None
        self._tracks: dict[str, dict[int, _Track]] = {}

    def _index(self) -> dict[str, list[Path]]:
        if self._files is None:
            files: dict[str, list[Path]] = {}
            for file in sorted(self.root.rglob("*.json")):
                files.setdefault(file.stem, []).append(file)
            self._files = files
        return self._files

    def tracks(self, vid: str, fail: Any) -> dict[int, _Track]:
        if vid in self._tracks:
            return self._tracks[vid]
        found = self._index().get(vid, [])
        if not found:
            raise fail(f"no VidOR box file {vid}.json under {self.root}", "vid")
        if len(found) > 1:
            raise fail(
                f"several VidOR box files named {vid}.json: {', '.join(map(str, found))}", "vid"
            )
        file = found[0]
        data = read_json(file, lambda problem: AnnotationError(file, problem))
        rec = Fields(file, vid, data)
        per_tid: dict[int, tuple[list[int], list[list[float]]]] = {}
        for frame, objects in enumerate(rec.sequence("trajectories")):
            if not isinstance(objects, list):
                raise rec.fail("expected a list of boxes", f"trajectories[{frame}]")
            for k, obj in enumerate(objects):
                where = f"trajectories[{frame}][{k}]"
                item = Fields(file, vid, obj, prefix=f"{where}.")
                tid = item.integer("tid")
                bbox = item.nested("bbox")
                coords = [bbox.number(name) for name in ("xmin", "ymin", "xmax", "ymax")]
                if coords[2] < coords[0] or coords[3] < coords[1]:
                    raise item.fail(f"xmax < xmin or ymax < ymin: {coords}", "bbox")
                frames, boxes = per_tid.setdefault(tid, ([], []))
                frames.append(frame)
                boxes.append(coords)
        tracks = {
            tid: (np.asarray(f, dtype=np.int64), np.asarray(b, dtype=np.float64).reshape(-1, 4))
            for tid, (f, b) in per_tid.items()
        }
        self._tracks[vid] = tracks
        return tracks


def _sentences(entry: Fields, key: str) -> list[Fields]:
    out = []
    for k, raw in enumerate(entry.sequence(key)):
        out.append(Fields(entry.path, entry.record, raw, prefix=f"{key}[{k}]."))
    return out


def load_vidstg_official(
    data: Any,
    path: str | os.PathLike[str] | None = None,
    boxes_dir: str | os.PathLike[str] | None = None,
) -> list[GTQuery]:
    """Queries of an official VidSTG ``*_annotations.json`` (parsed), boxes from ``boxes_dir``."""
    path = os.fspath(path) if path is not None else None
    if not isinstance(data, list):
        raise AnnotationError(path, f"expected a list of entries, got {type(data).__name__}")
    if boxes_dir is None:
        raise AnnotationError(
            path,
            "VidSTG's official annotations carry no boxes: give the VidOR annotation directory "
            "(boxes_dir=..., --boxes DIR)",
        )
    vidor = _VidorBoxes(boxes_dir)
    queries: list[GTQuery] = []
    for position, raw in enumerate(data):
        entry = Fields(path, position, raw)
        vid = entry.string("vid")
        entry.record = f"{position} (vid {vid})"
        segment = entry.nested("used_segment")
        seg = (segment.integer("begin_fid", 0), segment.integer("end_fid", 0))
        temporal = entry.nested("temporal_gt")
        start, end = temporal.integer("begin_fid", 0), temporal.integer("end_fid", 0)
        if end <= start:
            raise temporal.fail(
                f"end_fid {end} <= begin_fid {start} (end_fid is exclusive)", "end_fid"
            )
        common = dict(
            video_id=vid,
            dataset="vidstg",
            frame_count=entry.integer("frame_count", 1),
            fps=entry.number("fps", positive=True),
            width=entry.integer("width", 1),
            height=entry.integer("height", 1),
            start=start,
            end=end,
            segment=seg,
            source=path,
        )
        tracks = None
        for key, qtype in (("questions", "interrogative"), ("captions", "declarative")):
            for sentence in _sentences(entry, key):
                target = sentence.integer("target_id")
                if tracks is None:
                    tracks = vidor.tracks(vid, entry.fail)
                if target not in tracks:
                    raise sentence.fail(
                        f"target {target} has no boxes in the VidOR file of {vid}", "target_id"
                    )
                frames, boxes, end_box = _gt_from_track(tracks[target], start, end)
                if len(frames) == 0:
                    raise sentence.fail(
                        f"target {target} has no VidOR box inside temporal_gt [{start}, {end})",
                        "target_id",
                    )
                index = len(queries)
                queries.append(
                    GTQuery(
                        query_id=str(index),
                        query=sentence.string("description"),
                        qtype=qtype,
                        frames=frames,
                        boxes=boxes,
                        index=index,
                        end_box=end_box,
                        target_id=target,
                        **common,  # type: ignore[arg-type]
                    )
                )
    return queries


def _tubedetr_track(
    path: str | None, trajectories: Mapping[str, Any], vid: str, tid: int, fail: Any
) -> _Track:
    per_video = trajectories.get(vid)
    if not isinstance(per_video, Mapping):
        raise fail(f"trajectories has no video {vid!r}", "original_video_id")
    track = per_video.get(str(tid))
    if not isinstance(track, Mapping):
        raise fail(f"trajectories[{vid!r}] has no target {tid}", "target_id")
    where = f"trajectories[{vid!r}][{str(tid)!r}]"
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


def load_vidstg_tubedetr(data: Any, path: str | os.PathLike[str] | None = None) -> list[GTQuery]:
    """Queries of a TubeDETR-style VidSTG ``{split}.json`` (already parsed)."""
    path = os.fspath(path) if path is not None else None
    top = Fields(path, "<top level>", data)
    videos = top.sequence("videos")
    trajectories = top.get("trajectories")
    if not isinstance(trajectories, Mapping):
        raise top.fail("expected an object", "trajectories")
    cache: dict[tuple[str, int], _Track] = {}
    queries: list[GTQuery] = []
    seen: dict[int, int] = {}
    for position, raw in enumerate(videos):
        rec = Fields(path, position, raw)
        vid = rec.string("original_video_id")
        start, end = rec.integer("tube_start_frame", 0), rec.integer("tube_end_frame", 0)
        if end <= start:
            raise rec.fail(f"tube_end_frame {end} <= tube_start_frame {start}", "tube_end_frame")
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
            cache[key] = _tubedetr_track(path, trajectories, vid, target, rec.fail)
        frames, boxes, end_box = _gt_from_track(cache[key], start, end)
        if len(frames) == 0:
            raise rec.fail(f"target {target} has no box inside [{start}, {end})", "target_id")
        queries.append(
            GTQuery(
                query_id=str(index),
                video_id=vid,
                query=rec.string("caption"),
                qtype=qtype,
                dataset="vidstg",
                frame_count=rec.integer("frame_count", 1),
                fps=rec.number("fps", positive=True),
                width=rec.integer("width", 1),
                height=rec.integer("height", 1),
                start=start,
                end=end,
                frames=frames,
                boxes=boxes,
                index=index,
                segment=(rec.integer("start_frame", 0), rec.integer("end_frame", 0)),
                end_box=end_box,
                target_id=target,
                source=path,
            )
        )
    return queries
