"""Rendering: the output video's geometry, what is drawn inside and outside the span, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tubescope import GroundingResult, Video
from tubescope.errors import ValidationError
from tubescope.render import TIMELINE_HEIGHT, render_result
from tubescope.synthetic import ShapeSpec, make_clip
from tubescope.types import Tube


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    shape = ShapeSpec("green", "square", 40, start=(80.0, 120.0), end=(240.0, 120.0), appear=0, disappear=48)
    return make_clip(tmp_path_factory.mktemp("render") / "in.mp4", shapes=[shape], num_frames=48, fps=24)


def result_for(clip, **extra) -> GroundingResult:
    tube = clip.objects[0].tube
    span = Tube(12, 36, frames=tube.frames[12:36], boxes=tube.boxes[12:36], score=0.8, track_id=0)
    return GroundingResult("the green square", span, sampled_frames=[0, 12, 24, 36, 47],
                           frame_scores=[0.1, 0.9, 1.0, 0.4, 0.0], **extra)


def test_output_keeps_frame_count_fps_and_size(clip, tmp_path):
    out = render_result(clip.path, result_for(clip), tmp_path / "out.mp4")
    source, rendered = Video(clip.path), Video(out)
    assert (rendered.frame_count, rendered.width, rendered.height) == (48, 320, 240)
    assert rendered.fps == source.fps == 24
    np.testing.assert_allclose(rendered.timestamps, source.timestamps, atol=1e-4)
    assert rendered.info.codec == "h264"
    assert not (tmp_path / "out.mp4.part.mp4").exists()


def test_box_drawn_inside_span_and_nothing_outside_but_the_timeline(clip, tmp_path):
    out = render_result(clip.path, result_for(clip), tmp_path / "out.mp4")
    source, rendered = Video(clip.path), Video(out)
    inside = 20
    x1, y1, x2, y2 = clip.objects[0].tube.box_at(inside).astype(int)
    before, after = source[inside].astype(int), rendered[inside].astype(int)
    edge = np.abs(after[y1 - 1 : y1 + 1, x1:x2] - before[y1 - 1 : y1 + 1, x1:x2]).mean()
    assert edge > 40, "the tube's box border should be drawn on a span frame"
    outside = 5
    diff = np.abs(rendered[outside].astype(int) - source[outside].astype(int))
    assert diff[:-TIMELINE_HEIGHT].mean() < 3  # only re-encoding noise above the timeline
    assert diff[-TIMELINE_HEIGHT:].mean() > 20  # the timeline bar is there


def test_heatmap_is_blended_when_maps_are_present(clip, tmp_path):
    maps = {"spatial": np.tile(np.linspace(0, 1, 16, dtype=np.float32).reshape(1, 4, 4), (5, 1, 1))}
    with_maps = Video(render_result(clip.path, result_for(clip, maps=maps), tmp_path / "heat.mp4"))
    without = Video(render_result(clip.path, result_for(clip, maps=maps), tmp_path / "plain.mp4", heatmap=False))
    source = Video(clip.path)
    frame = 5  # outside the span
    assert np.abs(with_maps[frame].astype(int) - source[frame].astype(int))[:-TIMELINE_HEIGHT].mean() > 10
    assert np.abs(without[frame].astype(int) - source[frame].astype(int))[:-TIMELINE_HEIGHT].mean() < 3


def test_result_that_does_not_match_the_video(clip, tmp_path):
    late = GroundingResult("x", Tube(40, 90))
    with pytest.raises(ValidationError, match="ends at frame 90, but .*in.mp4 has 48 frames"):
        render_result(clip.path, late, tmp_path / "o.mp4")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tubescope.cli.main", *args], capture_output=True, text=True)


def test_render_cli(clip, tmp_path):
    path = tmp_path / "result.json"
    path.write_text(result_for(clip).to_json())
    proc = run_cli("render", str(clip.path), str(path), "-o", str(tmp_path / "cli.mp4"))
    assert proc.returncode == 0, proc.stderr
    assert Video(tmp_path / "cli.mp4").frame_count == 48
    # a JSONL of several results renders too
    lines = tmp_path / "results.jsonl"
    lines.write_text(result_for(clip).to_json() + "\n" + result_for(clip).to_json() + "\n")
    assert run_cli("render", str(clip.path), str(lines), "-o", str(tmp_path / "two.mp4")).returncode == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (json.dumps(GroundingResult("x", Tube(40, 90)).to_dict()), "ends at frame 90"),
        ("{not json", "not JSON or JSON lines"),
        (json.dumps({"nope": 1}), "entry 0 is not a GroundingResult"),
    ],
)
def test_render_cli_errors_are_one_line(clip, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    proc = run_cli("render", str(clip.path), str(path), "-o", str(tmp_path / "o.mp4"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error: ")


def test_render_cli_bad_video(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(GroundingResult("x").to_json())
    proc = run_cli("render", str(tmp_path / "missing.mp4"), str(path), "-o", str(tmp_path / "o.mp4"))
    assert proc.returncode == 2 and "missing.mp4: no such file" in proc.stderr
