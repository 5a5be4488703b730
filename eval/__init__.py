"""tubescope.eval: STVG evaluation (HC-STVG v1/v2, VidSTG) matching the published evaluators.

Importing this package needs only numpy (no torch, OpenCV, supervision or video decoders);
matplotlib is imported inside :func:`write_plots` only.

Conventions: ground truth and predictions are turned into tubescope's conventions (0-based
frames, half-open spans ``[start, end)``, ``[x1, y1, x2, y2]`` float pixels); each protocol
then converts to exactly what its reference evaluator sees:

* ``"tubedetr"`` (default): TubeDETR's 5-fps sampled frames, ``st_frame`` used as TubeDETR uses
  it, half-open spans, 200-frame cap;
* ``"stcat"``: every annotated GT frame, STCAT's inclusive GT end, linear interpolation of
  keyed predicted boxes.

Every quirk, and every deliberate deviation, is listed in :mod:`tubescope.eval.protocols`;
matching rules in :mod:`tubescope.eval.matching`; file formats in
:mod:`tubescope.eval.annotations` and :mod:`tubescope.eval.predictions`. Decisions:

* a missing prediction scores 0 on every metric and is counted in ``n_missing``;
* a GT frame without a predicted box has IoU 0;
* two zero-area boxes have IoU 0 (the peers compute nan, which poisons the whole mean);
* VidSTG reports declarative and interrogative queries separately, never pooled; the
  category comes from the ground truth.

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

from typing import TYPE_CHECKING, Any

from tubescope.eval.annotations import (
    ANNOTATION_FORMATS,
    DATASET_FAMILIES,
    GTQuery,
    detect_annotation_format,
    load_annotations,
)
from tubescope.eval.api import as_predictions, evaluate
from tubescope.eval.boxes import box_iou
from tubescope.eval.matching import match_predictions
from tubescope.eval.predictions import PREDICTION_FORMATS, Prediction, read_predictions
from tubescope.eval.protocols import PROTOCOLS
from tubescope.eval.report import QueryResult, Report, Summary
from tubescope.eval.sampling import hcstvg_sampled_frames, vidstg_sampled_frames

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "ANNOTATION_FORMATS",
    "DATASETS",
    "PREDICTION_FORMATS",
    "PROTOCOLS",
    "GTQuery",
    "Prediction",
    "QueryResult",
    "Report",
    "Summary",
    "as_predictions",
    "box_iou",
    "detect_annotation_format",
    "evaluate",
    "hcstvg_sampled_frames",
    "load_annotations",
    "match_predictions",
    "read_predictions",
    "vidstg_sampled_frames",
    "write_plots",
]

#: ``--dataset`` names
DATASETS = tuple(DATASET_FAMILIES)


def write_plots(report: Report, directory: Any) -> list[Path]:
    """Write the vIoU histogram and tIoU-vs-vIoU scatter PNGs (needs matplotlib)."""
    from tubescope.eval.plots import write_plots as _write

    return _write(report, directory)
