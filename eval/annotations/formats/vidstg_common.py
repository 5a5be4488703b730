"""What the two VidSTG formats share: target tracks, and the GT span inside the video.

``temporal_gt.end_fid`` is **exclusive** (TubeDETR's preprocessing asserts ``end_fid - 1 <=
last annotated frame``), so the GT span is ``[begin_fid, end_fid)`` unchanged and may end at
``frame_count``. ``used_segment.end_fid`` is the segment's last frame. GT frames are the
target's annotated frames inside the span (VidOR tubes normally have no holes; a hole is simply
not an evaluated frame). The target's box on frame ``end_fid``, when annotated, is kept as
:attr:`GTQuery.end_box` because STCAT treats ``end_fid`` as inclusive.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tubescope.eval.annotations.record import Fields

__all__ = ["Track", "check_span", "gt_from_track"]

#: a target's track: sorted int64 frames and their xyxy boxes
Track = tuple[np.ndarray, np.ndarray]


def gt_from_track(track: Track, start: int, end: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """The track's frames and boxes inside ``[start, end)`` and its box on ``end`` (or None)."""
    frames, boxes = track
    lo, hi = np.searchsorted(frames, [start, end])
    end_box = boxes[hi] if hi < len(frames) and frames[hi] == end else None
    return frames[lo:hi], boxes[lo:hi], end_box


def check_span(
    rec: Fields,
    end: int,
    frame_count: int,
    end_field: str,
    seg_end: int,
    seg_field: str,
) -> None:
    """The GT span and the used segment must lie inside the video's ``frame_count`` frames."""
    if end > frame_count:
        raise rec.fail(
            f"{end} runs past the video's {frame_count} frames (end_fid is exclusive, so at most "
            f"{frame_count})",
            end_field,
        )
    if seg_end > frame_count:
        raise rec.fail(f"{seg_end} lies past the video's {frame_count} frames", seg_field)
