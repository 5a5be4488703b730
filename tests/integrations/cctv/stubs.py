"""Stand-in grounders for plumbing tests (also loaded by the CLI test through ``--model stub:``).

:class:`RedGrounder` "grounds" any query that mentions red: the tube is the longest run of
frames showing a red blob, with the blob's bounding box on every frame. Queries without
"red" get no tube. It records every ``ground_many`` call.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tubescope import GroundingResult, Tube
from tubescope.video import Video


def red_mask(image: np.ndarray) -> np.ndarray:
    r, g, b = (image[..., k].astype(np.int16) for k in range(3))
    return (r > 150) & (g < 100) & (b < 100)


class RedGrounder:
    """Finds red things; ``delay`` seconds of pretend work per call."""

    def __init__(self, delay: float = 0.0, min_pixels: int = 30, score: float = 0.9) -> None:
        self.delay = delay
        self.min_pixels = min_pixels
        self.score = score
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def ground_many(self, video: Any, queries: Sequence[str]) -> list[GroundingResult]:
        frames = (
            video.get_frames(np.arange(video.frame_count))
            if isinstance(video, Video)
            else np.asarray(video)
        )
        with self._lock:
            self.calls.append(
                {
                    "frames": len(frames),
                    "queries": list(queries),
                    "type": type(video).__name__,
                    "fps": getattr(video, "fps", None),
                }
            )
        if self.delay:
            time.sleep(self.delay)
        present, boxes = [], []
        for image in frames:
            mask = red_mask(image)
            if mask.sum() >= self.min_pixels:
                ys, xs = np.nonzero(mask)
                present.append(True)
                boxes.append(
                    [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
                )
            else:
                present.append(False)
                boxes.append(None)
        best, run_start = (0, 0), None
        for i, flag in enumerate(present + [False]):
            if flag and run_start is None:
                run_start = i
            elif not flag and run_start is not None:
                if i - run_start > best[1] - best[0]:
                    best = (run_start, i)
                run_start = None
        with self._lock:
            self.calls[-1]["found"] = best[1] > best[0]
        results = []
        for query in queries:
            if "red" in query.lower() and best[1] > best[0]:
                s, e = best
                tube = Tube(
                    s,
                    e,
                    frames=list(range(s, e)),
                    boxes=[boxes[i] for i in range(s, e)],
                    score=self.score,
                )
                results.append(GroundingResult(query, tube, track_id=0))
            else:
                results.append(GroundingResult(query, None))
        return results


def make_grounder() -> RedGrounder:
    """Factory for ``tubescope watch --model stub:stubs:make_grounder``."""
    return RedGrounder()


class AlwaysGrounder:
    """The target is on every frame of every window, in the same box (for long synthetic runs)."""

    def __init__(self, box: Sequence[float] = (2.0, 2.0, 6.0, 6.0), score: float = 0.9) -> None:
        self.box = [float(v) for v in box]
        self.score = score
        self.calls = 0

    def ground_many(self, video: Any, queries: Sequence[str]) -> list[GroundingResult]:
        self.calls += 1
        n = video.frame_count
        tube = Tube(0, n, frames=[0, n - 1], boxes=[self.box, self.box], score=self.score)
        return [GroundingResult(query, tube, track_id=1) for query in queries]


class LoggingGrounder(RedGrounder):
    """A RedGrounder that records each window it finished grounding, fsynced, in ``log_path``.

    One line per window: the frame index of its first and last frame (read from the
    synthetic clip's barcode) and the red run it found (``-1 -1`` when none), so a test that
    kills the process knows exactly which windows were complete.
    """

    def __init__(self, log_path: str, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.log_path = log_path

    def ground_many(self, video: Any, queries: Sequence[str]) -> list[GroundingResult]:
        from tubescope.synthetic import read_barcode

        results = super().ground_many(video, queries)
        first = read_barcode(video.get_frames([0])[0])
        last = read_barcode(video.get_frames([video.frame_count - 1])[0])
        tube = next((r.tube for r in results if r.tube is not None), None)
        red = (first + tube.start_frame, first + tube.end_frame) if tube is not None else (-1, -1)
        with open(self.log_path, "a") as log:
            log.write(f"{first} {last} {red[0]} {red[1]}\n")
            log.flush()
            os.fsync(log.fileno())
        return results


def make_logging_grounder() -> LoggingGrounder:
    """Factory for ``--model stub:stubs:make_logging_grounder`` (log path and delay from the environment)."""
    return LoggingGrounder(
        os.environ["TUBESCOPE_TEST_GROUND_LOG"], float(os.environ.get("TUBESCOPE_TEST_DELAY", "0"))
    )
