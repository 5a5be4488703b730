"""``vidstg-official``: VidSTG's ``annotations/{split}_annotations.json`` + VidOR box files.

A list of entries, one per clip and relation, with ``vid, fps, frame_count, width, height,
used_segment{begin_fid,end_fid}, temporal_gt{begin_fid,end_fid}, questions[...], captions[...]``
(each sentence ``{description, type, target_id}``). Frames are 0-based. Every sentence is its
own query: for each entry, its ``questions`` (interrogative) and then its ``captions``
(declarative), numbered in that order over the whole file, which is TubeDETR's integer
``video_id`` and our ``query_id``. Conventions: :mod:`.vidstg_common`.

Boxes are not in VidSTG: they come from the VidOR per-video json
(``trajectories[frame] = [{"tid", "bbox": {xmin, ymin, xmax, ymax}}, ...]``). The loader looks
the file up as ``<boxes_dir>/**/<vid>.json`` (any depth: VidOR ships
``annotation/validation/<group>/<vid>.json``; VidSTG test = VidOR validation). A ``vid`` with no
file, or with two files of that name, is an :class:`~tubescope.errors.AnnotationError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.errors import AnnotationError
from tubescope.eval.annotations.formats.registry import AnnotationFormat
from tubescope.eval.annotations.formats.vidstg_common import Track, check_span, gt_from_track
from tubescope.eval.annotations.record import Fields, GTQuery, mark_repeated_keys
from tubescope.jsonio import read_json

__all__ = ["VIDSTG_OFFICIAL", "load"]


class _VidorBoxes:
    """Lazy index of ``<root>/**/<vid>.json`` and a per-video cache of target tracks."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise AnnotationError(self.root, "VidOR box directory not found (or not a directory)")
        self._files: dict[str, list[Path]] | None = None
        self._tracks: dict[str, dict[int, Track]] = {}

    def _index(self) -> dict[str, list[Path]]:
        if self._files is None:
            files: dict[str, list[Path]] = {}
            for file in sorted(self.root.rglob("*.json")):
                files.setdefault(file.stem, []).append(file)
            self._files = files
        return self._files

    def tracks(self, vid: str, fail: Any) -> dict[int, Track]:
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
        data = read_json(
            file, lambda problem: AnnotationError(file, problem), pairs_hook=mark_repeated_keys
        )
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
    return [
        Fields(entry.path, entry.record, raw, prefix=f"{key}[{k}].")
        for k, raw in enumerate(entry.sequence(key))
    ]


def load(
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
        frame_count = entry.integer("frame_count", 1)
        segment = entry.nested("used_segment")
        seg = (segment.integer("begin_fid", 0), segment.integer("end_fid", 0))
        temporal = entry.nested("temporal_gt")
        start, end = temporal.integer("begin_fid", 0), temporal.integer("end_fid", 0)
        if end <= start:
            raise temporal.fail(
                f"end_fid {end} <= begin_fid {start} (end_fid is exclusive)", "end_fid"
            )
        check_span(
            entry, end, frame_count, "temporal_gt.end_fid", seg[1], "used_segment.end_fid"
        )
        common = dict(
            video_id=vid,
            dataset="vidstg",
            frame_count=frame_count,
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
                frames, boxes, end_box = gt_from_track(tracks[target], start, end)
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


VIDSTG_OFFICIAL = AnnotationFormat(
    name="vidstg-official",
    family="vidstg",
    description='VidSTG *_annotations.json ([{"vid", "temporal_gt", "used_segment", ...}])',
    shape="records",
    signature=("temporal_gt", "used_segment", "captions", "questions"),
    load=load,
)
