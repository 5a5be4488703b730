"""Ground-truth loaders: every supported file becomes a list of :class:`GTQuery` records.

Supported formats, detected from the file's structure:

=====================  ==========================================================  =========
format                 shape                                                       dataset
=====================  ==========================================================  =========
``hcstvg-raw``         ``{video_name: {"st_frame", "bbox", "img_num", ...}}``       HC-STVG
                       (v1 ``caption``/``width``/``height``; v2 ``English``/
                       ``img_size=[H, W]``)
``hcstvg-proc``        TubeDETR ``*_proc.json``: ``[{"tube_start_frame",           HC-STVG
                       "trajectory", ...}]``
``vidstg-official``    ``[{"vid", "temporal_gt", "used_segment", "questions",      VidSTG
                       "captions", ...}]`` + VidOR box files under ``boxes_dir``
``vidstg-tubedetr``    TubeDETR ``{split}.json``: ``{"videos": [...],              VidSTG
                       "trajectories": {...}}``
=====================  ==========================================================  =========

Example:
    >>> import json, tempfile, os
    >>> raw = {"7_clip.mp4": {"img_num": 500, "width": 640, "height": 360, "st_frame": 121,
    ...        "bbox": [[210, 40, 90, 300], [212, 41, 90, 299]], "caption": "a woman turns"}}
    >>> path = os.path.join(tempfile.mkdtemp(), "test.json")
    >>> with open(path, "w") as f:
    ...     json.dump(raw, f)
    >>> [q] = load_annotations(path)
    >>> q.query_id, q.span, q.boxes[0].tolist()
    ('7_clip', (120, 122), [210.0, 40.0, 300.0, 340.0])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tubescope.errors import AnnotationError
from tubescope.eval.annotations.hcstvg import (
    is_hcstvg_proc,
    is_hcstvg_raw,
    load_hcstvg_proc,
    load_hcstvg_raw,
)
from tubescope.eval.annotations.record import DATASET_FAMILIES, GTQuery, video_key
from tubescope.eval.annotations.vidstg import (
    is_vidstg_official,
    is_vidstg_tubedetr,
    load_vidstg_official,
    load_vidstg_tubedetr,
)
from tubescope.jsonio import read_json

__all__ = [
    "ANNOTATION_FORMATS",
    "DATASET_FAMILIES",
    "GTQuery",
    "detect_annotation_format",
    "load_annotations",
    "video_key",
]

#: format name -> dataset family
ANNOTATION_FORMATS = {
    "hcstvg-raw": "hcstvg",
    "hcstvg-proc": "hcstvg",
    "vidstg-official": "vidstg",
    "vidstg-tubedetr": "vidstg",
}


def detect_annotation_format(data: Any) -> str | None:
    """The format name of parsed annotation JSON, or None when it is not recognised."""
    if is_vidstg_tubedetr(data):
        return "vidstg-tubedetr"
    if is_vidstg_official(data):
        return "vidstg-official"
    if is_hcstvg_proc(data):
        return "hcstvg-proc"
    if is_hcstvg_raw(data):
        return "hcstvg-raw"
    return None


def load_annotations(
    source: str | os.PathLike[str] | Any,
    dataset: str | None = None,
    *,
    boxes_dir: str | os.PathLike[str] | None = None,
    format: str | None = None,
) -> list[GTQuery]:
    """Load ground truth from a file (or already-parsed JSON) into :class:`GTQuery` records.

    Args:
        source: path of the annotation file, or its parsed JSON content.
        dataset: ``"hcstvg-v1"``, ``"hcstvg-v2"`` or ``"vidstg"``; when given, the file must be
            of that dataset's family.
        boxes_dir: VidOR annotation directory (official VidSTG annotations only).
        format: force one of :data:`ANNOTATION_FORMATS` instead of detecting it.

    Raises:
        AnnotationError: unreadable or malformed file; the message names the file, the record
            and the field.
    """
    path: str | None = None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        data = read_json(path, lambda problem: AnnotationError(path, problem))
    else:
        data = source
    if dataset is not None and dataset not in DATASET_FAMILIES:
        raise AnnotationError(
            path, f"unknown dataset {dataset!r}; expected one of {', '.join(DATASET_FAMILIES)}"
        )
    if format is None:
        format = detect_annotation_format(data)
        if format is None:
            raise AnnotationError(
                path,
                "unrecognised annotation format: expected HC-STVG raw json, TubeDETR *_proc.json, "
                "VidSTG *_annotations.json or TubeDETR VidSTG {split}.json",
            )
    elif format not in ANNOTATION_FORMATS:
        raise AnnotationError(path, f"unknown annotation format {format!r}")
    family = ANNOTATION_FORMATS[format]
    if dataset is not None and DATASET_FAMILIES[dataset] != family:
        raise AnnotationError(path, f"this is a {family} annotation file ({format}), not {dataset}")
    if format == "hcstvg-raw":
        queries = load_hcstvg_raw(data, path)
    elif format == "hcstvg-proc":
        queries = load_hcstvg_proc(data, path)
    elif format == "vidstg-official":
        queries = load_vidstg_official(data, path, boxes_dir)
    else:
        queries = load_vidstg_tubedetr(data, path)
    if not queries:
        raise AnnotationError(path, "contains no queries")
    return queries


def check_queries(queries: Sequence[Any]) -> list[GTQuery]:
    """Validate an already-loaded list of :class:`GTQuery` (unique ids, one dataset family)."""
    out = list(queries)
    if not out:
        raise AnnotationError(None, "no ground-truth queries")
    seen: set[str] = set()
    families = set()
    for position, query in enumerate(out):
        if not isinstance(query, GTQuery):
            raise AnnotationError(
                None, f"expected a GTQuery, got {type(query).__name__}", record=position
            )
        if query.query_id in seen:
            raise AnnotationError(
                query.source, "duplicate query_id", record=query.query_id, field="query_id"
            )
        seen.add(query.query_id)
        families.add(query.dataset)
    if len(families) > 1:
        raise AnnotationError(None, f"queries mix datasets {sorted(families)}")
    return out
