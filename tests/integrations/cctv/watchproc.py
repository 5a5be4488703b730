"""Helpers for tests that run ``tubescope watch`` as a real subprocess with a stand-in grounder.

The subprocess finds the stand-ins of :mod:`stubs` through ``--model stub:stubs:FACTORY``
(allowed only with ``TUBESCOPE_TESTING=1``). :class:`~stubs.LoggingGrounder` writes one
fsynced line per finished window, read back by :func:`logged_windows`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tubescope.synthetic import ShapeSpec, make_clip

HERE = Path(__file__).resolve().parent


def watch_env(**extra: str) -> dict[str, str]:
    """The environment of a ``tubescope watch`` subprocess that may use ``stub:`` models."""
    env = dict(os.environ)
    env["TUBESCOPE_TESTING"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def start_watch(args: list[str], log: Path, delay: float) -> subprocess.Popen[str]:
    """``tubescope watch ARGS --model stub:stubs:make_logging_grounder`` logging windows to ``log``."""
    env = watch_env(TUBESCOPE_TEST_GROUND_LOG=str(log), TUBESCOPE_TEST_DELAY=str(delay))
    cmd = [sys.executable, "-m", "tubescope.cli.main", "watch", *args]
    cmd += ["--model", "stub:stubs:make_logging_grounder"]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def logged_windows(log: Path) -> list[tuple[int, int, int, int]]:
    """The windows a LoggingGrounder finished: (first frame, last frame, red start, red end)."""
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:  # a line torn by a kill is not a finished window
            rows.append((int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])))
    return rows


def wait_for_windows(
    proc: subprocess.Popen[str], log: Path, count: int, timeout: float = 30
) -> bool:
    """Wait until ``count`` windows are logged; False if the process ended first (or time ran out)."""
    from .conftest import wait_until

    wait_until(lambda: len(logged_windows(log)) >= count or proc.poll() is not None, timeout)
    return len(logged_windows(log)) >= count


def red_clip(path: Path, spans: list[tuple[int, int]], num_frames: int, fps: int = 10) -> Path:
    """A 160x120 clip in which a red square is visible during each ``[start, end)`` of ``spans``."""
    make_clip(
        path,
        width=160,
        height=120,
        num_frames=num_frames,
        fps=fps,
        shapes=[red_square(a, b) for a, b in spans],
    )
    return path


def red_square(appear: int, disappear: int, size: int = 20) -> ShapeSpec:
    """A red square crossing a 160x120 picture while visible, frames ``[appear, disappear)``."""
    return ShapeSpec(
        color="red",
        kind="square",
        size=size,
        start=(40.0, 70.0),
        end=(110.0, 70.0),
        appear=appear,
        disappear=disappear,
    )
