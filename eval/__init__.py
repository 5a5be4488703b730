"""tubescope.eval: STVG evaluation (HC-STVG v1/v2, VidSTG) matching the published evaluators.

Importing this package needs only numpy and msgspec (no torch, OpenCV, supervision or video
decoders); matplotlib is imported inside :func:`write_plots` only. Names are imported lazily,
so ``tubescope.eval.datasets`` (the dataset table the command line reads at start-up) loads
without numpy.

Conventions: ground truth and predictions are turned into tubescope's conventions (0-based
frames, half-open spans ``[start, end)``, ``[x1, y1, x2, y2]`` float pixels); each protocol
then converts to exactly what its reference evaluator sees:

* ``"tubedetr"`` (default): TubeDETR's 5-fps sampled frames, ``st_frame`` used as TubeDETR uses
  it, half-open spans, 200-frame cap;
* ``"stcat"``: every annotated GT frame, STCAT's inclusive GT end, linear interpolation of
  keyed predicted boxes.

Every quirk, and every deliberate deviation, is listed in :mod:`tubescope.eval.protocols` and
docs/evaluation.md; matching rules in :mod:`tubescope.eval.matching`; file formats in
:mod:`tubescope.eval.annotations.formats` and :mod:`tubescope.eval.predictions`; what differs
per dataset in :mod:`tubescope.eval.datasets`. Decisions:

* a missing prediction scores 0 on every metric and is counted in ``n_missing``;
* a GT frame without a predicted box has IoU 0;
* two zero-area boxes have IoU 0 (the peers compute nan, which poisons the whole mean);
* VidSTG reports declarative and interrogative queries separately, never pooled; the
  category comes from the ground truth;
* aggregates are sequential sums in annotation order, bit-identical to the peers' loops.

Example:
    >>> from tubescope import Tube
    >>> from tubescope.eval import GTQuery, evaluate
    >>> gt = [GTQuery("v", "v", "the dog jumps", None, "hcstvg", 500, 25.0, 640, 360,
    ...               start=100, end=150, frames=range(100, 150), boxes=[[0, 0, 50, 50]] * 50,
    ...               st_frame=101)]
    >>> report = evaluate(gt, {"v": Tube(101, 151, frames=[101], boxes=[[0, 0, 50, 50]])})
    >>> report.to_dict()["m_vIoU"], report.n_missing
    (1.0, 0)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from tubescope.eval.annotations import (
        GTQuery,
        detect_annotation_format,
        identify_dataset,
        load_annotations,
        read_annotations,
    )
    from tubescope.eval.api import as_predictions, evaluate
    from tubescope.eval.boxes import box_iou
    from tubescope.eval.datasets import (
        Dataset,
        DatasetError,
        Family,
        dataset_names,
        get_dataset,
        register_dataset,
        register_family,
    )
    from tubescope.eval.matching import match_predictions
    from tubescope.eval.predictions import PREDICTION_FORMATS, Prediction, read_predictions
    from tubescope.eval.protocols import PROTOCOLS
    from tubescope.eval.report import QueryResult, Report, Summary
    from tubescope.eval.sampling import hcstvg_sampled_frames, vidstg_sampled_frames

# public name -> module that defines it
_LAZY = {
    "GTQuery": "tubescope.eval.annotations",
    "detect_annotation_format": "tubescope.eval.annotations",
    "identify_dataset": "tubescope.eval.annotations",
    "load_annotations": "tubescope.eval.annotations",
    "read_annotations": "tubescope.eval.annotations",
    "as_predictions": "tubescope.eval.api",
    "evaluate": "tubescope.eval.api",
    "box_iou": "tubescope.eval.boxes",
    "Dataset": "tubescope.eval.datasets",
    "DatasetError": "tubescope.eval.datasets",
    "Family": "tubescope.eval.datasets",
    "dataset_names": "tubescope.eval.datasets",
    "get_dataset": "tubescope.eval.datasets",
    "register_dataset": "tubescope.eval.datasets",
    "register_family": "tubescope.eval.datasets",
    "match_predictions": "tubescope.eval.matching",
    "PREDICTION_FORMATS": "tubescope.eval.predictions",
    "Prediction": "tubescope.eval.predictions",
    "read_predictions": "tubescope.eval.predictions",
    "PROTOCOLS": "tubescope.eval.protocols",
    "QueryResult": "tubescope.eval.report",
    "Report": "tubescope.eval.report",
    "Summary": "tubescope.eval.report",
    "hcstvg_sampled_frames": "tubescope.eval.sampling",
    "vidstg_sampled_frames": "tubescope.eval.sampling",
}

#: names computed from the registries on every access (they follow later registrations)
_TABLES = ("ANNOTATION_FORMATS", "DATASETS", "DATASET_FAMILIES")

__all__ = [*_TABLES, *_LAZY, "write_plots"]


def __getattr__(name: str) -> Any:
    if name == "DATASETS":  # the ``--dataset`` names
        from tubescope.eval.datasets import dataset_names

        return dataset_names()
    if name == "DATASET_FAMILIES":  # dataset name -> family
        from tubescope.eval.datasets import dataset_names, get_dataset

        return {n: get_dataset(n).family for n in dataset_names()}
    if name == "ANNOTATION_FORMATS":  # format name -> family
        from tubescope.eval.annotations.formats import format_names, get_format

        return {n: get_format(n).family for n in format_names()}
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tubescope.eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def write_plots(report: Report, directory: Any) -> list[Path]:
    """Write the vIoU histogram and tIoU-vs-vIoU scatter PNGs (needs matplotlib)."""
    from tubescope.eval.plots import write_plots as _write

    return _write(report, directory)
