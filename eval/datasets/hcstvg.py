"""HC-STVG (v1 test, v2 val): one query per 20-second clip, person tubes, no categories.

* TubeDETR evaluates its 5-fps sample of ``range(0, frame_count - 1)`` with
  ``fps = frame_count / 20`` (:func:`tubescope.eval.sampling.hcstvg_sampled_frames`).
* STCAT's GT is ``[st_frame - 1, st_frame - 1 + len(bbox) - 1]``, inclusive: our
  ``[start, end - 1]``.
* STCAT's loader removes two v1 videos by name (``clean_miss``): ``10__Gvp-cj3bmIY.mp4`` and
  ``1_aMYcLyh9OhU.mkv``; they get no prediction there and drop out of its mean.
* The paper's window (``frames_thre + 1``): 8 on v1, 11 on v2. Its loader lower-cases the
  sentences.

Example:
    >>> from tubescope.eval.datasets import get_dataset, get_family
    >>> get_dataset("hcstvg-v1").formats, get_family("hcstvg").categories
    (('hcstvg-raw', 'hcstvg-proc'), ())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tubescope.eval.datasets.table import Dataset, Family, StcatGT, VideoLayout

if TYPE_CHECKING:
    import numpy as np

    from tubescope.eval.annotations.record import GTQuery

__all__ = ["HCSTVG", "HCSTVG_V1", "HCSTVG_V2", "STCAT_REMOVED_VIDEOS"]

#: the videos STCAT's ``HCSTVGDataset.clean_miss`` removes from its input list
STCAT_REMOVED_VIDEOS = frozenset({"10__Gvp-cj3bmIY", "1_aMYcLyh9OhU"})


def _tubedetr_frames(query: GTQuery) -> np.ndarray:
    from tubescope.eval.sampling import hcstvg_sampled_frames

    return hcstvg_sampled_frames(query.frame_count)


def _stcat_gt(query: GTQuery) -> StcatGT:
    return StcatGT(end=min(query.end - 1, query.frame_count - 1))


def _stcat_drop(query: GTQuery) -> str | None:
    if query.video_id in STCAT_REMOVED_VIDEOS:
        return "removed by name (STCAT's clean_miss)"
    return None


HCSTVG = Family(
    name="hcstvg",
    title="HC-STVG",
    tubedetr_frames=_tubedetr_frames,
    stcat_gt=_stcat_gt,
    stcat_drop=_stcat_drop,
)

_FORMATS = ("hcstvg-raw", "hcstvg-proc")
HCSTVG_V1 = Dataset(
    name="hcstvg-v1",
    family="hcstvg",
    title="HC-STVG v1",
    split="test",
    formats=_FORMATS,
    window=8,
    videos=VideoLayout("v1_video/<name>.mp4 (one flat folder)"),
    paper_lowercase=True,
    fields={"hcstvg-raw": ("caption", "width", "height")},
)
HCSTVG_V2 = Dataset(
    name="hcstvg-v2",
    family="hcstvg",
    title="HC-STVG v2",
    split="val",
    formats=_FORMATS,
    window=11,
    videos=VideoLayout("v2_video/<name>.mp4"),
    paper_lowercase=True,
    fields={"hcstvg-raw": ("English", "img_size")},
)
