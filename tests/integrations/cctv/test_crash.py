"""SIGKILL at random moments: every event confident before the last grounded window is on disk.

``tubescope watch`` runs as a real subprocess on a recording with several separate
appearances of a red square; a stand-in grounder logs (fsynced) every window it finished.
The test kills the process at random points and then checks the events file against the log.
Before the lifecycle, a watch killed after 8 confident windows left no events file at all.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tubescope.integrations.cctv import read_events

from .watchproc import logged_windows, red_clip, start_watch, wait_for_windows

FPS = 10
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
APPEARANCES = [(12, 40), (58, 71), (90, 150), (170, 178), (196, 240)]  # frames [start, end)
KILLS = 5


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "yard_20260301_100000.mp4"
    return red_clip(path, APPEARANCES, num_frames=240, fps=FPS)


def start(recording: Path, events: Path, log: Path) -> subprocess.Popen[str]:
    args = [str(recording), "-q", "the red square", "--window", "1s", "--overlap", "0.3s"]
    args += ["--time-pattern", "%Y%m%d_%H%M%S", "--tz", "UTC", "--events", str(events)]
    return start_watch(args, log, delay=0.02)


def appearance_of(frame: int) -> int:
    return next(k for k, (a, b) in enumerate(APPEARANCES) if a <= frame < b)


@pytest.mark.time_limit(60)
def test_sigkill_at_random_points_loses_no_event_confident_before_the_last_window(
    recording: Path, tmp_path: Path
) -> None:
    rng = random.Random(16)
    total_windows = 34  # 240 frames in 1 s windows every 0.7 s
    checked = 0
    for run in range(KILLS):
        events, log = tmp_path / f"events{run}.jsonl", tmp_path / f"ground{run}.log"
        wanted = rng.randint(1, total_windows - 2)
        proc = start(recording, events, log)
        try:
            assert wait_for_windows(proc, log, wanted), "the watch ended before the kill"
            time.sleep(rng.uniform(0, 0.03))  # anywhere in grounding, emitting or writing
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, err
        done = logged_windows(log)[:-1]  # the last logged window may not have been written yet
        lines = read_events(events) if events.exists() else []
        starts = {line.start for line in lines}
        expected = set()
        for _, _, red_start, _ in done:
            if red_start < 0:
                continue
            first = min(
                r for _, _, r, _ in done if r >= 0 and appearance_of(r) == appearance_of(red_start)
            )
            expected.add(T0 + timedelta(seconds=first / FPS))
        missing = sorted(expected - starts)
        assert not missing, f"run {run}: killed after {len(done) + 1} windows, lost {missing}"
        assert not lines or lines[0].state == "open"
        for line in lines:  # revisions of each event count up from its open line
            same = [other.revision for other in lines if other.event_id == line.event_id]
            assert same == list(range(len(same)))
        checked += len(expected)
    assert checked >= KILLS  # the kills did land after confident windows
