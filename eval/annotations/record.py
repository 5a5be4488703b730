"""The ground-truth record (:class:`GTQuery`) and the field checks the loaders share.

The loaders parse annotation JSON with :func:`mark_repeated_keys`, so an object that repeats a
key (which ``json`` would silently collapse to its last value) is a :class:`RepeatedKeys`, and
:class:`Fields` refuses to read a repeated field, naming the record and the field (a repeated
field that is never read cannot change a score and is let through).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any

import numpy as np

from tubescope.errors import AnnotationError
from tubescope.eval.datasets.table import DatasetError, get_family
from tubescope.formats import VIDEO_EXTENSIONS
from tubescope.types.boxseq import readonly

__all__ = ["Fields", "GTQuery", "RepeatedKeys", "mark_repeated_keys", "video_key"]


def trusted_instance(cls: Any, values: dict[str, Any]) -> Any:
    """An instance of the frozen dataclass ``cls`` with ``values`` set as given (no checks).

    Fields left out take their defaults; the fast readers build many records this way after
    validating whole columns at once.
    """
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = {
            name: spec.default
            for name, spec in cls.__dataclass_fields__.items()
            if spec.default is not MISSING
        }
        _FACTORIES[cls] = {
            name: spec.default_factory
            for name, spec in cls.__dataclass_fields__.items()
            if spec.default_factory is not MISSING
        }
    state = defaults.copy()
    state.update(values)
    for name, factory in _FACTORIES[cls].items():
        if name not in state:
            state[name] = factory()
    if len(state) != len(cls.__dataclass_fields__):
        names = set(cls.__dataclass_fields__)
        raise TypeError(
            f"{cls.__name__}: unknown {sorted(set(state) - names)}, missing "
            f"{sorted(names - set(state))}"
        )
    instance = object.__new__(cls)
    instance.__dict__.update(state)
    return instance


_DEFAULTS: dict[type, dict[str, Any]] = {}
_FACTORIES: dict[type, dict[str, Any]] = {}


class RepeatedKeys(dict):  # type: ignore[type-arg]
    """A parsed JSON object that repeated keys; ``repeated`` lists them (the last value kept)."""

    repeated: list[str]


def mark_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that keeps every object but marks those that repeat a key.

    Example:
        >>> import json
        >>> json.loads('{"a": 1, "a": 2}', object_pairs_hook=mark_repeated_keys).repeated
        ['a']
    """
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    marked = RepeatedKeys(out)
    seen: set[str] = set()
    marked.repeated = []
    for key, _ in pairs:
        if key in seen and key not in marked.repeated:
            marked.repeated.append(key)
        seen.add(key)
    return marked


def check_no_repeats(data: Any, path: str | os.PathLike[str] | None, what: str) -> None:
    """Refuse a top-level object of records that lists a record twice."""
    if isinstance(data, RepeatedKeys):
        raise AnnotationError(
            path,
            f"the file lists this {what} more than once (JSON keeps only the last); "
            "remove or rename the duplicates",
            record=data.repeated[0],
        )


def video_key(name: str) -> str:
    """Normalise a video name: base name without a video extension.

    ``"/data/v1/55_vfjywN5CN0Y.mp4"``, ``"55_vfjywN5CN0Y.mp4"`` and ``"55_vfjywN5CN0Y"`` all give
    ``"55_vfjywN5CN0Y"``.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if dot and stem and f".{ext.lower()}" in _VIDEO_EXTENSIONS:
        return stem
    return base


_VIDEO_EXTENSIONS = frozenset(VIDEO_EXTENSIONS)


@dataclass(frozen=True, eq=False)
class GTQuery:
    """One ground-truth query (a sentence about one video), in tubescope's conventions.

    Frames are 0-based, the span ``[start, end)`` is half-open, boxes are ``[x1, y1, x2, y2]``
    float pixels (converted from the datasets' ``[x, y, w, h]`` as ``x + w``, ``y + h``).
    ``frames`` lists the span's frames that carry a GT box (all of them in HC-STVG; VidOR
    trajectories could in principle have holes), ``boxes`` one box per such frame.

    Attributes:
        query_id: stable id. HC-STVG: the video name without extension (one query per video).
            VidSTG: TubeDETR's integer ``video_id`` as a string: the position of the sentence
            when, for each entry of ``*_annotations.json`` in file order, its ``questions`` are
            listed and then its ``captions`` (the same in the official and TubeDETR files).
        video_id: video name without extension (HC-STVG) or VidOR ``vid`` (VidSTG).
        query: the sentence. qtype: the report category (VidSTG ``"declarative"`` /
            ``"interrogative"``; one of the family's ``categories``) or None.
        dataset: the dataset *family* (``"hcstvg"``, ``"vidstg"``: a registered
            :class:`~tubescope.eval.datasets.Family`).
        frame_count, fps, width, height: the video (HC-STVG fps is ``img_num / 20``); the GT
            span ends at ``frame_count`` at the latest.
        index: TubeDETR's integer ``video_id`` (position in its preprocessed list).
        st_frame: HC-STVG's raw, 1-based ``st_frame`` (``start + 1``); TubeDETR uses it
            unchanged as a 0-based GT start. None for VidSTG (and for hand-made HC-STVG
            queries, whose TubeDETR GT start is then ``start``).
        segment: VidSTG ``used_segment`` ``(begin_fid, end_fid)`` as written in the file
            (None: the whole video, ``(0, frame_count)``).
        end_box: VidSTG only: the target's box on frame ``end`` (``temporal_gt.end_fid``) when
            VidOR has one. ``end_fid`` is exclusive, but STCAT treats it as inclusive.
        target_id: VidSTG target ``tid``.
        source: the annotation file, for messages.

    Example:
        >>> q = GTQuery("v", "v", "a man runs", None, "hcstvg", 500, 25.0, 640, 360, 10, 12,
        ...             frames=[10, 11], boxes=[[0, 0, 5, 5], [1, 1, 6, 6]], st_frame=11)
        >>> q.span, q.boxes.shape
        ((10, 12), (2, 4))
    """

    query_id: str
    video_id: str
    query: str
    qtype: str | None
    dataset: str
    frame_count: int
    fps: float
    width: int
    height: int
    start: int
    end: int
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    index: int = 0
    st_frame: int | None = None
    segment: tuple[int, int] | None = None
    end_box: np.ndarray | None = None
    target_id: int | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        def fail(problem: str, name: str) -> AnnotationError:
            return AnnotationError(self.source, problem, record=self.query_id, field=name)

        frames = np.asarray(self.frames, dtype=np.int64).reshape(-1)
        boxes = (
            np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
            if len(frames)
            else np.zeros((0, 4))
        )
        if len(boxes) != len(frames):
            raise fail(f"{len(boxes)} boxes for {len(frames)} frames", "boxes")
        if not (0 <= self.start < self.end):
            raise fail(f"GT span [{self.start}, {self.end}) is empty or negative", "span")
        if self.end > self.frame_count:
            raise fail(
                f"GT span [{self.start}, {self.end}) runs past the video's {self.frame_count} "
                "frames",
                "span",
            )
        if len(frames) and (
            np.any(np.diff(frames) <= 0) or frames[0] < self.start or frames[-1] >= self.end
        ):
            raise fail(f"GT frames must increase inside [{self.start}, {self.end})", "frames")
        try:
            family = get_family(self.dataset)
        except DatasetError as err:
            raise fail(str(err), "dataset") from None
        if self.qtype is not None and self.qtype not in family.categories:
            choices = ", ".join(map(repr, family.categories)) or "none"
            raise fail(f"unknown qtype {self.qtype!r} (categories: {choices})", "qtype")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise fail(f"fps must be positive, got {self.fps!r}", "fps")
        object.__setattr__(self, "frames", readonly(frames.copy()))
        object.__setattr__(self, "boxes", readonly(boxes.copy()))
        if self.end_box is not None:
            object.__setattr__(
                self,
                "end_box",
                readonly(np.asarray(self.end_box, dtype=np.float64).reshape(4).copy()),
            )
        if self.segment is not None:
            object.__setattr__(self, "segment", (int(self.segment[0]), int(self.segment[1])))

    @classmethod
    def trusted(cls, **values: Any) -> GTQuery:
        """Build a query from values a loader has already validated in bulk (no checks).

        ``frames`` and ``boxes`` must be read-only int64 / float64 arrays; the fast readers
        use this after checking whole columns with numpy.
        """
        return trusted_instance(cls, values)

    @property
    def span(self) -> tuple[int, int]:
        """``(start, end)``: 0-based, end exclusive."""
        return self.start, self.end

    def __repr__(self) -> str:
        return (
            f"GTQuery(query_id={self.query_id!r}, video_id={self.video_id!r}, "
            f"span=[{self.start}, {self.end}), qtype={self.qtype!r})"
        )


class Fields:
    """Typed access to one annotation record; every problem is an :class:`AnnotationError`.

    ``prefix`` names the enclosing field of a nested object (``"temporal_gt."``).
    """

    def __init__(
        self, path: str | os.PathLike[str] | None, record: str | int, data: Any, prefix: str = ""
    ) -> None:
        self.path = path
        self.record = record
        self.prefix = prefix
        if not isinstance(data, Mapping):
            raise AnnotationError(
                path,
                f"expected an object, got {type(data).__name__}",
                record=record,
                field=prefix.rstrip(".") or None,
            )
        self.data = data
        self.repeated = frozenset(data.repeated) if isinstance(data, RepeatedKeys) else frozenset()

    def fail(self, problem: str, name: str | None = None) -> AnnotationError:
        full = f"{self.prefix}{name}" if name is not None else (self.prefix.rstrip(".") or None)
        return AnnotationError(self.path, problem, record=self.record, field=full)

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str) -> Any:
        """The field's value; missing and repeated fields are errors (unread ones may repeat)."""
        if name not in self.data:
            raise self.fail("missing", name)
        if name in self.repeated:
            raise self.fail("repeated key (JSON keeps only the last value)", name)
        return self.data[name]

    def first_of(self, *names: str) -> str:
        """The first of ``names`` present in the record (to accept v1 and v2 spellings)."""
        for name in names:
            if name in self.data:
                return name
        raise self.fail("missing", " or ".join(names))

    def integer(self, name: str, minimum: int | None = None) -> int:
        value = self.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, float) and not value.is_integer())
        ):
            raise self.fail(f"expected an integer, got {value!r}", name)
        value = int(value)
        if minimum is not None and value < minimum:
            raise self.fail(f"must be >= {minimum}, got {value}", name)
        return value

    def number(self, name: str, positive: bool = False) -> float:
        value = self.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise self.fail(f"expected a finite number, got {value!r}", name)
        if positive and value <= 0:
            raise self.fail(f"must be positive, got {value!r}", name)
        return float(value)

    def string(self, name: str) -> str:
        value = self.get(name)
        if not isinstance(value, str):
            raise self.fail(f"expected a string, got {value!r}", name)
        return value

    def sequence(self, name: str) -> list[Any]:
        value = self.get(name)
        if not isinstance(value, list):
            raise self.fail(f"expected a list, got {type(value).__name__}", name)
        return value

    def nested(self, name: str) -> Fields:
        """The object under ``name``, with field names prefixed by ``name.``."""
        return Fields(self.path, self.record, self.get(name), prefix=f"{self.prefix}{name}.")

    def xywh_list(self, name: str, allow_empty: bool = False) -> np.ndarray:
        """A list of ``[x, y, w, h]`` (finite, ``w, h >= 0``) as an ``(n, 4)`` float64 array."""
        return check_xywh(self.get(name), self.fail, name, allow_empty)


def check_xywh(value: Any, fail: Any, name: str, allow_empty: bool = False) -> np.ndarray:
    """Validate ``[[x, y, w, h], ...]``; ``fail(problem, field)`` builds the error."""
    if not isinstance(value, list):
        raise fail(f"expected a list of [x, y, w, h] boxes, got {type(value).__name__}", name)
    if not value:
        if allow_empty:
            return np.zeros((0, 4))
        raise fail("is empty: the GT tube needs at least one box", name)
    try:  # fast path: a clean numeric (n, 4) list
        arr = np.array(value)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.dtype.kind not in "iuf" or arr.ndim != 2 or arr.shape[1] != 4:
        for i, box in enumerate(value):
            if (
                not isinstance(box, list)
                or len(box) != 4
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in box)
            ):
                raise fail(f"expected [x, y, w, h] numbers, got {box!r}", f"{name}[{i}]")
        try:
            arr = np.array(value, dtype=np.float64)  # integers too large for int64
        except OverflowError:
            raise fail("a box holds an integer too large for a float", name) from None
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr).all(axis=1) | (arr[:, 2] < 0) | (arr[:, 3] < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise fail(f"box {value[i]!r} is not finite or has a negative width/height", f"{name}[{i}]")
    return arr
