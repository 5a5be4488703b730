"""VidSTG (test): several sentences per clip and relation, each its own query, in two categories.

* Queries are declarative (``captions``) or interrogative (``questions``); every paper reports
  the two separately, so the report never pools them.
* Each entry names a ``used_segment`` (``end_fid`` inclusive); TubeDETR samples inside it at the
  video's real fps (:func:`tubescope.eval.sampling.vidstg_sampled_frames`) and a run samples
  only inside it.
* STCAT reads the exclusive ``temporal_gt.end_fid`` as inclusive: its GT is
  ``[begin_fid, min(end_fid, used_segment.end_fid, frame_count - 1)]`` and it adds the target's
  box on frame ``end_fid`` (the previous frame's box when VidOR has none there).
* STCAT's loader drops a pair when the number of boxes it collected, over
  ``range(begin_fid, min(end_fid + 1, frame_count))``, differs from the length of its
  segment-clipped GT, ``min(end_fid, used_segment.end_fid) - begin_fid + 1``. That happens when
  the GT runs past the used segment (unless the segment ends on the video's last frame), and
  when ``end_fid == used_segment.end_fid == frame_count`` (the GT ends with the video and the
  segment claims one frame more). It also drops GT lying outside the segment.
* The paper's window (``frames_thre + 1``) is 6.

Example:
    >>> from tubescope.eval.datasets import get_family
    >>> get_family("vidstg").categories
    ('declarative', 'interrogative')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tubescope.eval.datasets.table import Dataset, Family, StcatGT, VideoLayout

if TYPE_CHECKING:
    import numpy as np

    from tubescope.eval.annotations.record import GTQuery

__all__ = ["VIDSTG", "VIDSTG_TEST"]


def _segment(query: GTQuery) -> tuple[int, int]:
    return query.segment if query.segment is not None else (0, query.frame_count)


def _tubedetr_frames(query: GTQuery) -> np.ndarray:
    from tubescope.eval.sampling import vidstg_sampled_frames

    begin, end = _segment(query)
    return vidstg_sampled_frames(begin, end, query.fps)


def _stcat_gt(query: GTQuery) -> StcatGT:
    last = min(query.end, query.frame_count - 1)  # range(begin, min(end_fid + 1, frame_count))
    end = min(last, query.segment[1]) if query.segment is not None else last
    if end != last:
        return StcatGT(end)
    if last == query.end:  # frame end_fid, outside our half-open span
        if query.end_box is not None:
            return StcatGT(end, (last, query.end_box))
        previous = query.end - 1
    else:  # last == end - 1 == frame_count - 1: inside our span
        if len(query.frames) and query.frames[-1] == last:
            return StcatGT(end)  # annotated: already a GT frame
        previous = last - 1
    if len(query.frames) and query.frames[-1] == previous:
        return StcatGT(end, (last, query.boxes[-1]))
    return StcatGT(end)


def _stcat_drop(query: GTQuery) -> str | None:
    if query.segment is None:
        return None
    seg_begin, seg_end = query.segment
    if query.end < seg_begin or query.start > seg_end:
        return "temporal_gt lies outside used_segment"
    collected = min(query.end + 1, query.frame_count)
    expected = min(query.end, seg_end) + 1
    if collected == expected:
        return None
    if query.end > seg_end:
        return "temporal_gt runs past used_segment"
    return "temporal_gt and used_segment both end at frame_count (STCAT's length check fails)"


VIDSTG = Family(
    name="vidstg",
    title="VidSTG",
    tubedetr_frames=_tubedetr_frames,
    stcat_gt=_stcat_gt,
    stcat_drop=_stcat_drop,
    categories=("declarative", "interrogative"),
    segments=True,
)
VIDSTG_TEST = Dataset(
    name="vidstg",
    family="vidstg",
    title="VidSTG",
    split="test",
    formats=("vidstg-official", "vidstg-tubedetr"),
    window=6,
    videos=VideoLayout("VidOR video/<group>/<vid>.mp4 (or one flat folder)"),
)
