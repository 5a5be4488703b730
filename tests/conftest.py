"""Shared fixtures: synthetic clips rendered once per session (nothing is downloaded)."""

from __future__ import annotations

import pytest

from tubescope.synthetic import SyntheticClip, make_clip


@pytest.fixture(scope="session")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> SyntheticClip:
    """120 frames, 320x240, 30 fps, H.264 with B-frames, three moving shapes."""
    return make_clip(tmp_path_factory.mktemp("clips") / "shapes.mp4", num_frames=120, fps=30, seed=7)


@pytest.fixture(scope="session")
def mpeg4_clip(tmp_path_factory: pytest.TempPathFactory) -> SyntheticClip:
    """60 frames at 29.97 fps, MPEG-4 Part 2 in an AVI container."""
    return make_clip(
        tmp_path_factory.mktemp("clips") / "shapes.avi", num_frames=60, fps=29.97, codec="mpeg4", seed=2
    )


@pytest.fixture(scope="session")
def vfr_clip(tmp_path_factory: pytest.TempPathFactory) -> SyntheticClip:
    """Variable frame rate: irregular gaps between frames, written with explicit timestamps."""
    gaps = [0.033, 0.033, 0.1, 0.02, 0.25, 0.033, 0.05, 0.5, 0.033, 0.04]
    times = [0.0]
    for i in range(1, 40):
        times.append(times[-1] + gaps[i % len(gaps)])
    return make_clip(tmp_path_factory.mktemp("clips") / "vfr.mkv", num_frames=40, fps=25, timestamps=times, seed=4)
