"""Prediction records and the readers of the three supported prediction files.

Every reader returns :class:`Prediction` records in tubescope's conventions (0-based frames,
half-open span, xyxy boxes). How a record is matched to a ground-truth query is described in
:mod:`tubescope.eval.matching`.

1. **tubescope JSONL** (``format="jsonl"``), one JSON object per line::

       {"video_id": "55_vfjywN5CN0Y", "query_id": "55_vfjywN5CN0Y", "tube": <Tube JSON>}

   ``query_id`` is optional; ``tube`` may be ``null`` (no answer: scores 0, but it is not
   "missing"); ``qtype`` is accepted and ignored (the category always comes from the GT). No
   other key is allowed (typos would otherwise silently make predictions "missing"). A full
   ``GroundingResult`` JSON per line is accepted too (recognised by its ``"query"`` key); its
   ``video`` is the video id unless the line also has ``video_id``, and an extra
   ``query_id`` key is honoured. The tube keeps Tube semantics: a box on every frame of
   ``[start_frame, end_frame)``, interpolated between its known frames and held before the
   first / after the last (:meth:`tubescope.Tube.box_at`); no box outside the span.

2. **Official HC-STVG challenge json** (``format="hcstvg-official"``)::

       {"55_vfjywN5CN0Y.mp4": {"st_frame": 268, "ed_frame": 400,
                               "bbox": {"268": [x1, y1, x2, y2], ...}}}

   ``st_frame``/``ed_frame`` are **inclusive** and, like the official annotations' ``st_frame``,
   **1-based** by default (``index_base=1``): ``[st, ed]`` becomes our ``[st - 1, ed)``, the box
   of key ``k`` lands on our frame ``k - 1``. Boxes exist only on the listed frames. Extra keys
   per video are ignored.

3. **TubeDETR frame-keyed dicts** (``format="tubedetr"``), in one file::

       {"videos": {"<vid>": {"sted": [start, end_exclusive]}},
        "frames": {"<vid>_<frame>": {"boxes": [[x1, y1, x2, y2], ...]}}}

   These are exactly the two dicts TubeDETR's ``engine.py`` feeds its evaluator
   (``video_update`` / ``update``). ``<vid>`` is our ``query_id`` or TubeDETR's integer
   ``video_id`` (:attr:`GTQuery.index`); frames are 0-based video frame ids; ``sted`` may hold
   floats (TubeDETR's post-processor emits them); only the first box of a frame counts, as in
   TubeDETR. A frame key whose ``<vid>`` has no ``videos`` entry is an error. Extra keys (e.g.
   ``qtype``) are ignored.

In the keyed formats (2, 3) a frame has a predicted box only where the file lists one; the
``stcat`` protocol interpolates linearly between listed frames, as STCAT's inference does
(``engine/evaluate.py: linear_interp``). Malformed input raises :class:`PredictionError` naming
the file, the line (JSONL) and the field. Large JSONL files are read by a fast path
(:mod:`tubescope.eval.fastjsonl`) that gives the same predictions and defers every problem to
the precise reader.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tubescope.errors import PredictionError, ValidationError
from tubescope.jsonio import DuplicateKeyError, iter_jsonl, read_text, reject_duplicates
from tubescope.types import GroundingResult, Tube
from tubescope.types.boxseq import readonly
from tubescope.types.schema import check_schema_version

__all__ = [
    "PREDICTION_FORMATS",
    "Prediction",
    "parse_hcstvg_official",
    "parse_jsonl",
    "parse_tubedetr",
    "read_predictions",
]

#: accepted values of ``format=``
PREDICTION_FORMATS = ("jsonl", "hcstvg-official", "tubedetr")

#: per origin format, the field holding a prediction's span end and its boxes (a leading "."
#: puts it under the prediction's own field, e.g. ``videos['3'].sted``)
_PART_NAMES = {
    "": {"end": ".end_frame", "frames": ".frames"},
    "jsonl": {"end": "tube.end_frame", "frames": "tube.frames"},
    "hcstvg-official": {"end": ".ed_frame", "frames": ".bbox"},
    "tubedetr": {"end": ".sted", "frames": "frames"},
}

_JSONL_KEYS = ("schema_version", "video_id", "query_id", "tube", "qtype")


@dataclass(frozen=True, eq=False)
class Prediction:
    """One predicted tube, in tubescope's conventions, plus where it came from.

    Attributes:
        start, end: half-open span ``[start, end)`` of 0-based frames; floats only from
            TubeDETR-format files (``start == end`` means "no answer").
        frames, boxes: frames that carry a box (strictly increasing) and their xyxy boxes.
        query_id / video_id: what identifies the GT query (see :mod:`tubescope.eval.matching`).
        mode: ``"tube"``: Tube semantics, a box on every frame of the span outside ``gaps``,
            interpolated between ``frames`` and held at the ends; ``"keyed"``: boxes only on
            ``frames`` (the ``stcat`` protocol interpolates between them).
        gaps: ``(n, 2)`` half-open frame ranges of a ``"tube"`` prediction with no box (the
            tube's :attr:`~tubescope.Tube.gaps`: its track does not exist there).
        path, line, field: origin, for error messages.
        origin: the file format it was read from (:data:`PREDICTION_FORMATS`; None: built in
            memory), to name its fields in messages.

    Example:
        >>> from tubescope import Tube
        >>> p = Prediction.from_tube(Tube(5, 9, frames=[5], boxes=[[0, 0, 4, 4]]), video_id="v")
        >>> p.start, p.end, p.mode
        (5.0, 9.0, 'tube')
    """

    start: float
    end: float
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    query_id: str | None = None
    video_id: str | None = None
    mode: str = "tube"
    gaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    path: str | None = None
    line: int | None = None
    field: str | None = None
    origin: str | None = None

    def __post_init__(self) -> None:
        start, end = float(self.start), float(self.end)
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            raise self.error(
                f"span [{self.start}, {self.end}) must be finite with 0 <= start <= end"
            )
        frames = np.asarray(self.frames, dtype=np.int64).reshape(-1)
        boxes = (
            np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
            if len(frames)
            else np.zeros((0, 4), dtype=np.float64)
        )
        if len(boxes) != len(frames):
            raise self.error(f"{len(boxes)} boxes for {len(frames)} frames")
        if len(frames) and (frames[0] < 0 or np.any(np.diff(frames) <= 0)):
            raise self.error("frames must be non-negative and strictly increasing")
        if (
            not np.isfinite(boxes).all()
            or np.any(boxes[:, 2] < boxes[:, 0])
            or np.any(boxes[:, 3] < boxes[:, 1])
        ):
            raise self.error("boxes must be finite [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2")
        if self.mode not in ("tube", "keyed"):
            raise self.error(f"unknown mode {self.mode!r}")
        for name in ("query_id", "video_id"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise self.error(f"expected a string or integer id, got {value!r}", name)
                object.__setattr__(self, name, str(value))
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "frames", readonly(frames.copy()))
        object.__setattr__(self, "boxes", readonly(boxes.copy()))
        gaps = np.asarray(self.gaps, dtype=np.int64).reshape(-1, 2)
        object.__setattr__(self, "gaps", readonly(gaps.copy()))

    def error(self, problem: str, field: str | None = None) -> PredictionError:
        """A :class:`PredictionError` located at this prediction's origin."""
        return PredictionError(self.path, problem, line=self.line, field=self.field or field)

    def error_at(self, problem: str, part: str) -> PredictionError:
        """A :class:`PredictionError` naming the field of this prediction's ``part``: its span
        ``"end"`` or its boxes' ``"frames"``, as the origin file spells them."""
        name = _PART_NAMES.get(self.origin or "", _PART_NAMES[""])[part]
        if name.startswith(".") and self.field:
            name = f"{self.field}{name}"
        return PredictionError(self.path, problem, line=self.line, field=name.lstrip("."))

    @property
    def span(self) -> tuple[float, float]:
        return self.start, self.end

    @classmethod
    def from_tube(
        cls,
        tube: Tube | None,
        *,
        query_id: str | None = None,
        video_id: str | None = None,
        path: str | None = None,
        line: int | None = None,
        origin: str | None = None,
    ) -> Prediction:
        """Wrap a :class:`~tubescope.Tube` (None = no answer, an empty prediction)."""
        if tube is None:
            return cls(
                0.0, 0.0, query_id=query_id, video_id=video_id, path=path, line=line, origin=origin
            )
        # A Tube is validated already (integer span, increasing frames, finite xyxy boxes,
        # read-only arrays): skip re-validation, which dominates evaluation time otherwise.
        return cls.trusted(
            start=float(tube.start_frame),
            end=float(tube.end_frame),
            frames=tube.frames,
            boxes=tube.boxes,
            query_id=None if query_id is None else str(query_id),
            video_id=None if video_id is None else str(video_id),
            path=path,
            line=line,
            origin=origin,
            gaps=tube.gaps,
        )

    @classmethod
    def trusted(cls, **values: Any) -> Prediction:
        """Build a prediction from values validated already (no checks; ``"tube"`` mode).

        ``start``/``end`` floats, read-only int64 ``frames`` and float64 ``(n, 4)`` ``boxes``;
        used by :meth:`from_tube` and the fast JSONL reader (which checks whole arrays).
        """
        from tubescope.eval.annotations.record import trusted_instance

        return trusted_instance(cls, values)

    def __repr__(self) -> str:
        return (
            f"Prediction(query_id={self.query_id!r}, video_id={self.video_id!r}, "
            f"span=[{self.start:g}, {self.end:g}), boxes={len(self.frames)}, mode={self.mode!r})"
        )


# ---------------------------------------------------------------------------------------- JSONL
def _id(value: Any, fail: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise fail(f"expected a string or integer id, got {value!r}", name)
    return str(value)


def _validation_problem(err: ValidationError) -> tuple[str, str | None]:
    text = str(err)
    if err.field and text.startswith(f"{err.field}: "):
        text = text[len(err.field) + 2 :]
    return text, err.field


def _parse_jsonl_record(obj: Any, path: str | None, line: int) -> Prediction:
    def fail(problem: str, name: str | None = None) -> PredictionError:
        return PredictionError(path, problem, line=line, field=name)

    if not isinstance(obj, dict):
        raise fail(f"expected a JSON object, got {type(obj).__name__}")
    query_id = _id(obj.get("query_id"), fail, "query_id")
    if "query" in obj:  # a full GroundingResult
        rest = {k: v for k, v in obj.items() if k not in ("query_id", "video_id")}
        try:
            result = GroundingResult.from_dict(rest)
        except ValidationError as err:
            problem, name = _validation_problem(err)
            raise fail(f"not a valid GroundingResult: {problem}", name) from None
        video_id = _id(obj.get("video_id", result.video), fail, "video_id")
        tube = result.tube
        tube_field = "tube"
    else:
        unknown = sorted(set(obj) - set(_JSONL_KEYS))
        if unknown:
            raise fail(
                f"unknown key(s) {', '.join(map(repr, unknown))}; a line holds "
                "{'video_id', 'query_id'?, 'tube'} or a GroundingResult",
                unknown[0],
            )
        if "schema_version" in obj:
            try:
                check_schema_version(obj, "prediction")
            except ValidationError as err:
                problem, name = _validation_problem(err)
                raise fail(problem, name) from None
        if "tube" not in obj:
            raise fail("missing", "tube")
        video_id = _id(obj.get("video_id"), fail, "video_id")
        tube_field = "tube"
        try:
            tube = None if obj["tube"] is None else Tube.from_dict(obj["tube"])
        except ValidationError as err:
            problem, name = _validation_problem(err)
            raise fail(problem, f"tube.{name}" if name else tube_field) from None
    if query_id is None and video_id is None:
        raise fail("a prediction needs a video_id (or query_id)", "video_id")
    return Prediction.from_tube(
        tube, query_id=query_id, video_id=video_id, path=path, line=line, origin="jsonl"
    )


def parse_jsonl(text: str, path: str | os.PathLike[str] | None = None) -> list[Prediction]:
    """Parse tubescope JSONL prediction text (see the module docstring)."""
    path = os.fspath(path) if path is not None else None
    out = []
    for number, line in iter_jsonl(text):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise PredictionError(
                path, f"not valid JSON ({err.msg}, column {err.colno})", line=number
            ) from None
        out.append(_parse_jsonl_record(obj, path, number))
    return out


# --------------------------------------------------------------------------------- keyed boxes
def _xyxy(value: Any, fail: Any, name: str) -> list[float]:
    if (
        not isinstance(value, list)
        or len(value) != 4
        or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            for v in value
        )
    ):
        raise fail(f"expected a box [x1, y1, x2, y2] of finite numbers, got {value!r}", name)
    if value[2] < value[0] or value[3] < value[1]:
        raise fail(f"box {value!r} has x2 < x1 or y2 < y1 (boxes are [x1, y1, x2, y2])", name)
    return [float(v) for v in value]


def _int_key(key: str, fail: Any, name: str) -> int:
    try:
        return int(key)
    except ValueError:
        raise fail(f"frame key {key!r} is not an integer", name) from None


def _keyed(frames: list[int], boxes: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(np.asarray(frames, dtype=np.int64), kind="stable")
    f = np.asarray(frames, dtype=np.int64)[order]
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[order]
    return f, b


def parse_hcstvg_official(
    data: Any, path: str | os.PathLike[str] | None = None, index_base: int = 1
) -> list[Prediction]:
    """Parse the official HC-STVG challenge prediction json (already parsed)."""
    path = os.fspath(path) if path is not None else None

    def fail(problem: str, name: str | None = None) -> PredictionError:
        return PredictionError(path, problem, field=name)

    if not isinstance(data, dict):
        raise fail(f"expected an object keyed by video, got {type(data).__name__}")
    out = []
    for video, item in data.items():
        where = f"[{video!r}]"
        if not isinstance(item, dict):
            raise fail(f"expected an object, got {type(item).__name__}", where)
        values = {}
        for key in ("st_frame", "ed_frame"):
            value = item.get(key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise fail(f"expected an integer frame, got {value!r}", f"{where}.{key}")
            values[key] = value - index_base
        if values["st_frame"] < 0:
            raise fail(
                f"st_frame {item['st_frame']} is below index_base {index_base}", f"{where}.st_frame"
            )
        if values["ed_frame"] < values["st_frame"]:
            raise fail("ed_frame precedes st_frame (both are inclusive)", f"{where}.ed_frame")
        bbox = item.get("bbox", {})
        if not isinstance(bbox, dict):
            raise fail(
                f"expected an object {{frame: box}}, got {type(bbox).__name__}", f"{where}.bbox"
            )
        frames, boxes = [], []
        for key, box in bbox.items():
            name = f"{where}.bbox[{key!r}]"
            frame = _int_key(key, fail, name) - index_base
            if frame < 0:
                raise fail(f"frame {key} is below index_base {index_base}", name)
            frames.append(frame)
            boxes.append(_xyxy(box, fail, name))
        f, b = _keyed(frames, boxes)
        out.append(
            Prediction(
                float(values["st_frame"]),
                float(values["ed_frame"] + 1),
                f,
                b,
                video_id=str(video),
                mode="keyed",
                path=path,
                field=where,
                origin="hcstvg-official",
            )
        )
    return out


def parse_tubedetr(data: Any, path: str | os.PathLike[str] | None = None) -> list[Prediction]:
    """Parse the single-file TubeDETR layout ``{"videos": ..., "frames": ...}`` (parsed)."""
    path = os.fspath(path) if path is not None else None

    def fail(problem: str, name: str | None = None) -> PredictionError:
        return PredictionError(path, problem, field=name)

    if not isinstance(data, dict) or "videos" not in data:
        raise fail('expected {"videos": {vid: {"sted": [s, e]}}, "frames": {...}}', "videos")
    videos, frames_map = data["videos"], data.get("frames", {})
    if not isinstance(videos, dict):
        raise fail(f"expected an object, got {type(videos).__name__}", "videos")
    if not isinstance(frames_map, dict):
        raise fail(f"expected an object, got {type(frames_map).__name__}", "frames")
    per_video: dict[str, tuple[list[int], list[list[float]]]] = {str(v): ([], []) for v in videos}
    for key, item in frames_map.items():
        name = f"frames[{key!r}]"
        vid, sep, frame_key = str(key).rpartition("_")
        if not sep or not vid:
            raise fail("keys must look like '<vid>_<frame>'", name)
        frame = _int_key(frame_key, fail, name)
        if frame < 0:
            raise fail("frame ids are 0-based and non-negative", name)
        if vid not in per_video:
            raise fail(f"video {vid!r} has boxes but no 'sted' in 'videos'", name)
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("boxes"), list)
            or not item["boxes"]
        ):
            raise fail('expected {"boxes": [[x1, y1, x2, y2], ...]} with at least one box', name)
        per_video[vid][0].append(frame)
        per_video[vid][1].append(_xyxy(item["boxes"][0], fail, f"{name}.boxes[0]"))
    out = []
    for vid, item in videos.items():
        name = f"videos[{vid!r}]"
        sted = item.get("sted") if isinstance(item, dict) else None
        if (
            not isinstance(sted, list)
            or len(sted) != 2
            or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                for v in sted
            )
        ):
            raise fail(f"expected 'sted': [start, end] numbers, got {sted!r}", f"{name}.sted")
        if sted[0] < 0 or sted[1] < sted[0]:
            raise fail(
                f"sted {sted!r} must satisfy 0 <= start <= end (end exclusive)", f"{name}.sted"
            )
        frames, boxes = per_video[str(vid)]
        f, b = _keyed(frames, boxes)
        out.append(
            Prediction(
                float(sted[0]),
                float(sted[1]),
                f,
                b,
                query_id=str(vid),
                mode="keyed",
                path=path,
                field=name,
                origin="tubedetr",
            )
        )
    return out


# ------------------------------------------------------------------------------------ dispatch
def _strict_load(text: str, path: str | None) -> Any:
    try:
        return json.loads(text, object_pairs_hook=reject_duplicates)
    except DuplicateKeyError as err:
        raise PredictionError(path, f"{err}: one prediction per video/query") from None
    except json.JSONDecodeError as err:
        raise PredictionError(path, f"not valid JSON ({err.msg})", line=err.lineno) from None


def _detect(text: str, path: str | None) -> str:
    stripped = text.lstrip()
    if not stripped:
        raise PredictionError(path, "file is empty")
    if stripped[0] == "{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return "jsonl"  # several JSON objects (or a broken line: the JSONL parser says where)
        if isinstance(data, dict):
            if "tube" in data or "query" in data:
                return "jsonl"
            if "videos" in data and isinstance(data.get("videos"), dict):
                return "tubedetr"
            first = next(iter(data.values()), None)
            if isinstance(first, Mapping) and "st_frame" in first:
                return "hcstvg-official"
    raise PredictionError(
        path,
        "unrecognised prediction format: expected tubescope JSONL, the official HC-STVG json "
        'or TubeDETR {"videos": ..., "frames": ...}',
    )


def read_predictions(
    source: str | os.PathLike[str], format: str | None = None, *, index_base: int = 1
) -> list[Prediction]:
    """Read a prediction file; ``format`` is one of :data:`PREDICTION_FORMATS` or detected.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "pred.jsonl")
        >>> with open(path, "w") as f:
        ...     _ = f.write('{"video_id": "v", "tube": {"start_frame": 3, "end_frame": 7, '
        ...                 '"frames": [3], "boxes": [[0, 0, 5, 5]]}}\\n')
        >>> read_predictions(path)
        [Prediction(query_id=None, video_id='v', span=[3, 7), boxes=1, mode='tube')]
    """
    path = os.fspath(source)
    if format is not None and format not in PREDICTION_FORMATS:
        raise PredictionError(
            path, f"unknown prediction format {format!r}; expected {', '.join(PREDICTION_FORMATS)}"
        )
    if format in (None, "jsonl"):  # the fast reader first; it declines anything unusual
        from tubescope.eval.fastjsonl import read_jsonl_fast

        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError:
            raw = None  # read_text below says what is wrong with the file
        fast = read_jsonl_fast(raw, path) if raw and raw[:1] == b"{" else None
        if fast is not None:
            return fast
    text = read_text(path, lambda problem: PredictionError(path, problem))
    if format is None:
        format = _detect(text, path)
    if format == "jsonl":
        return parse_jsonl(text, path)
    data = _strict_load(text, path)
    if format == "hcstvg-official":
        return parse_hcstvg_official(data, path, index_base)
    return parse_tubedetr(data, path)
