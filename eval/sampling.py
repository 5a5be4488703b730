"""TubeDETR's frame sampling, reproduced bit for bit (float64, the same order of operations).

TubeDETR (``datasets/hcstvg_eval.py`` / ``vidstg_eval.py``) evaluates only the frames its model
sees: roughly 5 per second. For candidate frames ``range(start, end)`` and
``rate = 5 / video_fps`` it keeps ``start`` and then every frame ``f`` whose
``int(f * rate)`` is larger than that of the last kept frame (the first frame of each 1/5-s
bin). If more than 200 frames remain they are thinned to
``frame_ids[(j * len(frame_ids)) // 200] for j in range(200)``.

* HC-STVG: ``video_fps = frame_count / 20`` (every clip is taken to last 20 s),
  ``start = 0``, ``end = frame_count - 1``: the last frame is never a candidate.
* VidSTG: the real ``fps`` of the video, ``start, end = used_segment`` (``end_fid`` excluded).

The rate must be computed as ``5 / (frame_count / 20)`` (or ``5 / fps``) in float64: exact
rational arithmetic selects different frames for 99 of the frame counts 100-1299 (e.g.
``frame_count = 104`` keeps frame 27, not 26).

Example:
    >>> hcstvg_sampled_frames(500)[:4].tolist()  # 25 fps: every 5th frame
    [0, 5, 10, 15]
    >>> hcstvg_sampled_frames(104)[20:26].tolist()  # 26 * rate = 24.999999999999996
    [21, 22, 23, 24, 25, 27]
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "MAX_FRAMES",
    "TARGET_FPS",
    "hcstvg_sampled_frames",
    "sample_frames",
    "vidstg_sampled_frames",
]

#: TubeDETR's evaluation frame rate (``fps=5``) and cap (``video_max_len=200``).
TARGET_FPS = 5
MAX_FRAMES = 200


@lru_cache(maxsize=8192)
def sample_frames(start: int, end: int, rate: float, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """The frames TubeDETR keeps from ``range(start, end)`` at ``rate`` (read-only int64).

    ``start`` is always kept, even when the range is empty (TubeDETR initialises its list with
    it). A rate above 1 (a video slower than 5 fps, which TubeDETR rejects with an assert) keeps
    every frame.
    """
    candidates = np.arange(start, max(end, start), dtype=np.int64)
    if len(candidates) == 0:
        kept = np.array([start], dtype=np.int64)
    else:
        bins = np.floor(candidates * rate)  # int() truncates; the products are >= 0
        keep = np.empty(len(candidates), dtype=bool)
        keep[0] = True
        keep[1:] = bins[1:] > bins[:-1]
        kept = candidates[keep]
    if len(kept) > max_frames:
        kept = kept[(np.arange(max_frames, dtype=np.int64) * len(kept)) // max_frames]
    kept.setflags(write=False)
    return kept


def hcstvg_sampled_frames(frame_count: int) -> np.ndarray:
    """TubeDETR's evaluated frames of an HC-STVG clip with ``frame_count`` (``img_num``) frames."""
    video_fps = frame_count / 20
    rate = TARGET_FPS / video_fps
    return sample_frames(0, frame_count - 1, rate)


def vidstg_sampled_frames(begin_fid: int, end_fid: int, fps: float) -> np.ndarray:
    """TubeDETR's evaluated frames of a VidSTG ``used_segment`` at the video's real ``fps``."""
    rate = TARGET_FPS / fps
    return sample_frames(begin_fid, end_fid, rate)
