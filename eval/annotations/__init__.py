"""Ground-truth loading: any supported file becomes a list of :class:`GTQuery` records.

The formats (one module each) are listed in :mod:`tubescope.eval.annotations.formats`; which
datasets come in which format is the dataset table's business (:mod:`tubescope.eval.datasets`).
A file is read in three steps:

1. **Parse.** A format's fast reader (:mod:`tubescope.eval.fastjson`) is tried first; whenever
   it declines, the file is parsed with ``json``, marking any object that repeats a key.
2. **Detect and identify.** The format comes from the file's structure (its records'
   signature fields, so a field missing in the first record does not hide it); the dataset
   from the table's distinctive fields (HC-STVG v1 vs v2). A ``dataset`` that does not match is
   an error saying what the file is.
3. **Load** with the format's precise loader (unless the fast reader already did): every
   problem (a missing or mistyped field in any record, a repeated key, a tube running past the
   video) is an :class:`~tubescope.errors.AnnotationError` naming the file, record and field.

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
    >>> identify_dataset(path)
    'hcstvg-v1'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tubescope.errors import AnnotationError
from tubescope.eval.annotations.formats import (
    AnnotationFormat,
    detect_format,
    format_names,
    get_format,
    records_of,
)
from tubescope.eval.annotations.record import GTQuery, mark_repeated_keys, video_key
from tubescope.eval.datasets import Dataset, DatasetError, datasets_of, get_dataset
from tubescope.jsonio import read_json

__all__ = [
    "GTQuery",
    "Loaded",
    "check_queries",
    "detect_annotation_format",
    "identify_dataset",
    "load_annotations",
    "read_annotations",
    "video_key",
]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Loaded:
    """An annotation file read by :func:`read_annotations`.

    Attributes:
        queries: the ground truth. format: the :class:`AnnotationFormat` it was in.
        dataset: the dataset (given, or identified from the file's fields; None when the
            file does not say, e.g. a TubeDETR ``*_proc.json`` of HC-STVG v1 or v2).
        path: the file (None for parsed data).
    """

    queries: list[GTQuery]
    format: AnnotationFormat
    dataset: Dataset | None
    path: str | None


def detect_annotation_format(data: Any) -> str | None:
    """The format name of parsed annotation JSON, or None when it is not recognised."""
    fmt = detect_format(data)
    return None if fmt is None else fmt.name


def _identify(
    fmt: AnnotationFormat, data: Any, wanted: Dataset | None, path: str | None
) -> Dataset | None:
    """The dataset of a file from its records' distinctive fields (the table's ``fields``).

    With ``wanted``, a record whose fields belong to another dataset is an error naming it.
    """
    candidates = [d for d in datasets_of(fmt.family) if d.fields.get(fmt.name)]
    if not candidates:
        return wanted
    found: dict[str, Dataset] = {}
    kinds: dict[frozenset[str], list[Dataset]] = {}  # fast views share one set per kind of record
    for key, record in records_of(fmt, data):
        if not hasattr(record, "__contains__") or isinstance(record, (str, bytes)):
            continue
        hits = kinds.get(record) if isinstance(record, frozenset) else None
        if hits is None:
            hits = [d for d in candidates if any(name in record for name in d.fields[fmt.name])]
            if isinstance(record, frozenset):
                kinds[record] = hits
        if len(hits) != 1:
            continue
        hit = hits[0]
        if wanted is not None and hit.name != wanted.name:
            present = [name for name in hit.fields[fmt.name] if name in record]
            raise AnnotationError(
                path,
                f"this is an {hit.title} file (its records have {', '.join(map(repr, present))}"
                f"), not {wanted.name}; use --dataset {hit.name}",
                record=key,
                field=present[0],
            )
        found.setdefault(hit.name, hit)
    if wanted is not None:
        return wanted
    return next(iter(found.values())) if len(found) == 1 else None


def _parse(path: str) -> tuple[Any, AnnotationFormat | None, list[GTQuery] | None]:
    """The file's data (a fast key-level view, or the parsed JSON) and the fast queries."""
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError:
        text = None  # read_json below says what is wrong with the file
    if text is not None:
        for name in format_names():
            fmt = get_format(name)
            if fmt.fast is not None:
                fast = fmt.fast(text, path)
                if fast is not None:
                    return fast.view, fmt, fast.queries
    return _read_precisely(path), None, None


def _read_precisely(path: str) -> Any:
    """The parsed file; objects that repeat a key are marked (:func:`mark_repeated_keys`)."""
    return read_json(
        path, lambda problem: AnnotationError(path, problem), pairs_hook=mark_repeated_keys
    )


def read_annotations(
    source: PathLike | Any,
    dataset: str | None = None,
    *,
    boxes_dir: PathLike | None = None,
    format: str | None = None,
) -> Loaded:
    """Read ground truth and say what it is: :func:`load_annotations` plus the format/dataset.

    Args:
        source: path of the annotation file, or its parsed JSON content.
        dataset: a name of the dataset table (``"hcstvg-v1"``, ``"hcstvg-v2"``, ``"vidstg"``);
            the file must be of its family and, where the table can tell (HC-STVG v1 vs v2 by
            their fields), of that very dataset.
        boxes_dir: VidOR annotation directory (official VidSTG annotations only).
        format: force a registered format instead of detecting it.
    """
    path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    try:
        wanted = get_dataset(dataset) if dataset is not None else None
        forced = get_format(format) if format is not None else None
    except DatasetError as err:
        raise AnnotationError(path, str(err)) from None
    queries: list[GTQuery] | None = None
    fmt: AnnotationFormat | None = None
    if path is None:
        data = source
    elif forced is None:
        data, fmt, queries = _parse(path)
    else:
        data = _read_precisely(path)
    fmt = forced or fmt or detect_format(data)
    if fmt is None:
        known = "; ".join(get_format(name).description for name in format_names())
        raise AnnotationError(path, f"unrecognised annotation format: expected {known}")
    if wanted is not None:
        if wanted.family != fmt.family:
            raise AnnotationError(
                path, f"this is a {fmt.family} annotation file ({fmt.name}), not {wanted.name}"
            )
        if fmt.name not in wanted.formats:
            raise AnnotationError(
                path,
                f"{wanted.name} annotations come as {', '.join(wanted.formats)}, not {fmt.name}",
            )
    identified = _identify(fmt, data, wanted, path)
    if queries is None:
        queries = fmt.load(data, path, boxes_dir)
    if not queries:
        raise AnnotationError(path, "contains no queries")
    return Loaded(queries, fmt, identified, path)


def load_annotations(
    source: PathLike | Any,
    dataset: str | None = None,
    *,
    boxes_dir: PathLike | None = None,
    format: str | None = None,
) -> list[GTQuery]:
    """Load ground truth from a file (or already-parsed JSON) into :class:`GTQuery` records.

    Arguments as :func:`read_annotations`.

    Raises:
        AnnotationError: unreadable or malformed file, or a file of another dataset; the
            message names the file, the record and the field.
    """
    return read_annotations(source, dataset, boxes_dir=boxes_dir, format=format).queries


def identify_dataset(source: PathLike | Any, *, boxes_dir: PathLike | None = None) -> str | None:
    """The dataset name a file belongs to, when its fields tell (else None)."""
    loaded = read_annotations(source, boxes_dir=boxes_dir)
    return None if loaded.dataset is None else loaded.dataset.name


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
