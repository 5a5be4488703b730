"""``evaluate()``: ground truth + predictions + protocol -> :class:`Report`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tubescope.errors import AnnotationError, PredictionError
from tubescope.eval.annotations import GTQuery, check_queries, read_annotations
from tubescope.eval.datasets import get_dataset
from tubescope.eval.fastjsonl import predictions_from, read_jsonl_columns
from tubescope.eval.matching import check_within_videos, match_predictions
from tubescope.eval.metrics import score_queries
from tubescope.eval.predictions import Prediction, read_predictions
from tubescope.eval.protocols import PROTOCOLS, build_plan, stcat_drops
from tubescope.eval.report import Report
from tubescope.types import GroundingResult, Tube

if TYPE_CHECKING:
    from tubescope.eval.forked import ForkedCall

__all__ = ["as_predictions", "evaluate"]

PathLike = str | os.PathLike[str]


def as_predictions(
    predictions: PathLike | Sequence[Any] | Mapping[Any, Any],
    *,
    format: str | None = None,
    index_base: int = 1,
) -> list[Prediction]:
    """Normalise any accepted prediction input to a list of :class:`Prediction`.

    Accepted: a path (see :func:`~tubescope.eval.read_predictions`); a sequence of
    :class:`Prediction` or :class:`~tubescope.GroundingResult` (matched by its ``video``); a
    mapping ``{query_id: Tube | GroundingResult | Prediction | None}``.
    """
    if isinstance(predictions, (str, os.PathLike)):
        return read_predictions(predictions, format, index_base=index_base)
    out: list[Prediction] = []
    if isinstance(predictions, Mapping):
        for key, value in predictions.items():
            qid = str(key)
            where = f"[{qid!r}]"
            if isinstance(value, Prediction):
                out.append(
                    value
                    if value.query_id is not None
                    else dataclasses.replace(value, query_id=qid)
                )
            elif isinstance(value, GroundingResult):
                out.append(Prediction.from_tube(value.tube, query_id=qid))
            elif value is None or isinstance(value, Tube):
                out.append(Prediction.from_tube(value, query_id=qid))
            else:
                raise PredictionError(
                    None,
                    f"expected a Tube, GroundingResult or Prediction, got {type(value).__name__}",
                    field=where,
                )
        return out
    for position, value in enumerate(predictions):
        if isinstance(value, Prediction):
            out.append(value)
        elif isinstance(value, GroundingResult):
            if value.video is None:
                raise PredictionError(
                    None,
                    "a GroundingResult needs 'video' to be matched",
                    field=f"[{position}].video",
                )
            out.append(Prediction.from_tube(value.tube, video_id=value.video))
        else:
            raise PredictionError(
                None,
                f"expected a Prediction or GroundingResult, got {type(value).__name__}",
                field=f"[{position}]",
            )
    return out


BACKGROUND_BYTES = 16 << 20
"""Prediction files at least this large are parsed in a forked process (:mod:`.forked`)
while the annotations are read, when two cores are free."""


def _read_in_background(
    annotations: Any, predictions: Any, prediction_format: str | None
) -> ForkedCall | None:
    """A child parsing a large JSONL prediction file into columns, or None (read it here)."""
    if not isinstance(predictions, (str, os.PathLike)) or prediction_format not in (None, "jsonl"):
        return None
    if not isinstance(annotations, (str, os.PathLike)):
        return None  # nothing to do meanwhile
    try:
        size = os.path.getsize(predictions)
    except OSError:
        return None  # the reader in this process says what is wrong with the file
    if size < BACKGROUND_BYTES:
        return None
    # a JSON number takes two bytes at least (a digit and a separator): 8 bytes a number
    # bounds every frame and box, and a line of 20 bytes at least bounds the per-tube arrays
    bound = 4 * size + 3 * 8 * (size // 20) + (1 << 16)
    from tubescope.eval.forked import ForkedCall  # multiprocessing: only for large files

    return ForkedCall.start(read_jsonl_columns, os.fspath(predictions), shared_bytes=bound)


def evaluate(
    annotations: PathLike | Sequence[GTQuery],
    predictions: PathLike | Sequence[Any] | Mapping[Any, Any],
    dataset: str | None = None,
    protocol: str = "tubedetr",
    *,
    boxes_dir: PathLike | None = None,
    prediction_format: str | None = None,
    index_base: int = 1,
) -> Report:
    """Score predictions against STVG ground truth with a published evaluator's protocol.

    Args:
        annotations: annotation file (HC-STVG v1/v2 raw json, TubeDETR ``*_proc.json``, VidSTG
            ``*_annotations.json`` + ``boxes_dir``, TubeDETR VidSTG ``{split}.json``), or a
            list of :class:`GTQuery` from :func:`~tubescope.eval.load_annotations`.
        predictions: prediction file (tubescope JSONL, official HC-STVG json, TubeDETR
            ``{"videos", "frames"}`` json), or loaded objects (see :func:`as_predictions`).
        dataset: a name of the dataset table (``"hcstvg-v1"``, ``"hcstvg-v2"``,
            ``"vidstg"``; :mod:`tubescope.eval.datasets`), checked against the annotations
            (identified from them when None).
        protocol: ``"tubedetr"`` (default) or ``"stcat"``; see :mod:`tubescope.eval.protocols`.
        boxes_dir: VidOR box directory for official VidSTG annotations.
        prediction_format: force ``"jsonl"``, ``"hcstvg-official"`` or ``"tubedetr"``.
        index_base: frame index base of official HC-STVG prediction files (default 1).

    Returns:
        a :class:`Report`; missing predictions score 0 and are counted in ``n_missing``.

    Raises:
        AnnotationError / PredictionError: malformed input, naming the file, record/line and
            field; PredictionError also for unknown ids, ambiguous or duplicate predictions,
            and spans or boxes past the end of the video.
        DatasetError: an unknown ``dataset`` (the message lists the choices).

    Example:
        >>> from tubescope import Tube
        >>> from tubescope.eval import GTQuery, evaluate
        >>> gt = [GTQuery("clip", "clip", "a man sits", None, "hcstvg", 200, 10.0, 640, 360,
        ...               start=49, end=89, frames=range(49, 89), boxes=[[0, 0, 10, 10]] * 40,
        ...               st_frame=50)]
        >>> tube = Tube(49, 89, frames=[49], boxes=[[0, 0, 10, 10]])
        >>> report = evaluate(gt, {"clip": tube}, protocol="stcat")
        >>> report.m_tIoU, report.m_vIoU  # a perfect tube scores 39/40 under STCAT
        (0.975, 0.975)
        >>> round(evaluate(gt, {"clip": tube}).m_tIoU, 4)  # TubeDETR's GT is one frame later
        0.9512
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    wanted = get_dataset(dataset) if dataset is not None else None
    reading = _read_in_background(annotations, predictions, prediction_format)
    try:
        if isinstance(annotations, (str, os.PathLike)):
            loaded = read_annotations(annotations, dataset, boxes_dir=boxes_dir)
            queries = loaded.queries
            name = loaded.dataset.name if loaded.dataset is not None else queries[0].dataset
        else:
            queries = check_queries(annotations)
            if wanted is not None and wanted.family != queries[0].dataset:
                raise AnnotationError(
                    queries[0].source, f"these are {queries[0].dataset} queries, not {dataset}"
                )
            name = dataset or queries[0].dataset
        plan = build_plan(protocol, queries)  # while the child may still be reading
    except BaseException:
        if reading is not None:
            reading.cancel()
        raise
    columns = reading.result() if reading is not None else None
    if columns is not None:
        preds = predictions_from(columns, os.fspath(predictions))  # type: ignore[arg-type]
    else:
        preds = as_predictions(predictions, format=prediction_format, index_base=index_base)
    matched = match_predictions(queries, preds)
    check_within_videos(queries, matched)
    scores = score_queries(plan, matched)
    spans = [None if p is None else (p.start, p.end) for p in matched]
    drops = stcat_drops(queries) if protocol == "stcat" else None
    return Report(protocol, name, queries, scores, spans, drops)
