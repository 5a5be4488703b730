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


def test_heatmap_is_laid_over_the_part_of_the_frame_the_model_saw(clip, tmp_path):
    """A centre-cropping backend's map covers the middle of the frame only (its ``view``)."""
    maps = {"spatial": np.ones((5, 4, 4), dtype=np.float32)}
    maps["spatial"][:, 0, 0] = 0.0  # one cold cell: the map is not flat
    view = [0.25, 0.0, 0.75, 1.0]
    result = result_for(clip, maps=maps, meta={"view": view})
    out = Video(render_result(clip.path, result, tmp_path / "view.mp4"))
    source = Video(clip.path)
    frame = 5  # outside the span: only the heat-map is drawn above the timeline
    diff = np.abs(out[frame].astype(int) - source[frame].astype(int))[:-TIMELINE_HEIGHT].mean(axis=2)
    assert diff[:, :75].mean() < 3 and diff[:, 245:].mean() < 3  # the sides: never seen, untinted
    assert diff[60:, 85:235].mean() > 10  # inside the view: tinted
    with pytest.raises(ValidationError, match="meta.view"):
        render_result(clip.path, result_for(clip, maps=maps, meta={"view": [0.5, 0, 0.2, 1]}),
                      tmp_path / "bad.mp4")


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


# ---------------------------------------------------------------------------- one frame, drawn
def draw_one(width, height, box, *, query="the green square on the left", maps=None, background=255):
    """Renderer.draw on one plain frame with a one-frame tube at ``box``; returns (in, out)."""
    from tubescope.render import Renderer

    video = Video(np.full((2, height, width, 3), background, np.uint8))
    tube = Tube(0, 2, frames=[0, 1], boxes=[box, box], score=0.8)
    result = GroundingResult(query, tube, sampled_frames=[0, 1], frame_scores=[0.5, 1.0], maps=maps)
    frame = video[0]
    return frame, Renderer([result], video).draw(0, frame.copy())


def ink(image, timeline):
    """Mask of the (black) label text pixels above the timeline on a white frame."""
    body = image[: image.shape[0] - timeline]
    return body.max(axis=2) < 60


def ink_extent(mask):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_labels_stay_inside_the_frame_at_the_right_edge_and_the_top():
    _, centred = draw_one(320, 240, [120, 100, 180, 160])
    reference = ink(centred, TIMELINE_HEIGHT).sum()
    assert reference > 100  # the label text is drawn (black on the result's colour)
    for box in ([260, 100, 320, 160], [120, 0, 180, 60], [270, 0, 320, 40], [0, 0, 40, 40]):
        _, out = draw_one(320, 240, box)
        mask = ink(out, TIMELINE_HEIGHT)
        assert mask.sum() >= 0.9 * reference, f"label cut or hidden for a box at {box}"
        top, bottom, left, right = ink_extent(mask)
        assert left > 0 and right < 319 and top > 0


def test_a_label_wider_than_the_frame_is_shortened_to_fit():
    _, out = draw_one(160, 120, [10, 40, 60, 90], query="the tall man in the long red coat who walks away " * 2)
    top, bottom, left, right = ink_extent(ink(out, TIMELINE_HEIGHT))
    assert left > 0 and right < 159


def timeline_rows(image):
    """How many bottom rows the timeline bar covers on a white frame."""
    dark = (image.min(axis=2) < 200).mean(axis=1) > 0.9
    rows = 0
    while rows < len(dark) and dark[len(dark) - 1 - rows]:
        rows += 1
    return rows


@pytest.mark.parametrize(("width", "height"), [(320, 240), (3840, 2160), (4000, 3000)])
def test_text_lines_and_timeline_scale_with_resolution(width, height):
    short = min(width, height)
    box = [width * 0.3, height * 0.4, width * 0.5, height * 0.7]
    source, out = draw_one(width, height, box)
    bar = timeline_rows(out)
    assert bar >= max(TIMELINE_HEIGHT, 0.03 * short) - 1, f"timeline {bar} px tall on {width}x{height}"
    top, bottom, left, right = ink_extent(ink(out, bar))
    assert bottom - top >= 0.025 * short, f"label text {bottom - top} px tall on {width}x{height}"
    # the box's left edge: a run of the result's colour, thicker on larger frames
    row = out[int(height * 0.55)]
    changed = np.flatnonzero(np.abs(row.astype(int) - source[0, 0].astype(int)).sum(axis=1) > 60)
    edge = changed[changed < width * 0.4]
    assert len(edge) >= max(2, short / 400), f"box line {len(edge)} px on {width}x{height}"


def test_heatmap_tints_only_the_attended_regions():
    grid = np.full((2, 4, 4), 0.3, np.float32)  # a relative map: a baseline everywhere...
    grid[:, 0, 0] = 1.0  # ...and one attended cell, top left
    source, out = draw_one(320, 240, [200, 120, 260, 180], query="x", maps={"spatial": grid}, background=128)
    body = out[: 240 - TIMELINE_HEIGHT].astype(int) - source[: 240 - TIMELINE_HEIGHT].astype(int)
    assert np.abs(body[:40, :60]).mean() > 20  # the attended cell is tinted
    far = np.abs(body[:, 140:190])  # a band far from it and from the box
    assert far.max() == 0, "cold regions must keep their pixels"


def test_a_result_of_another_video_is_refused_unless_forced(clip, tmp_path):
    other = result_for(clip)
    other = GroundingResult.from_dict({**other.to_dict(), "video": str(tmp_path / "elsewhere" / "other.mp4")})
    with pytest.raises(ValidationError, match=r"result: grounded on .*other\.mp4, not on .*in\.mp4"):
        render_result(clip.path, other, tmp_path / "o.mp4")
    assert Video(render_result(clip.path, other, tmp_path / "o.mp4", force=True)).frame_count == 48
    moved = GroundingResult.from_dict({**other.to_dict(), "video": "some/other/folder/in.mp4"})
    render_result(clip.path, moved, tmp_path / "moved.mp4")  # the same file name: a moved copy


def test_render_cli_refuses_a_result_of_another_video(clip, tmp_path):
    path = tmp_path / "other.json"
    data = result_for(clip).to_dict()
    data["video"] = "/data/videos/other.mp4"
    path.write_text(json.dumps(data))
    proc = run_cli("render", str(clip.path), str(path), "-o", str(tmp_path / "o.mp4"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--force" in lines[0]
    assert "/data/videos/other.mp4" in lines[0] and not (tmp_path / "o.mp4").exists()
    proc = run_cli("render", str(clip.path), str(path), "-o", str(tmp_path / "o.mp4"), "--force")
    assert proc.returncode == 0, proc.stderr


def test_nothing_is_drawn_where_the_tubes_track_is_absent():
    """A tube with a gap (its track absent on frames 2-3): box, label and trace on the frames
    around it, nothing but the timeline on the gap (issue 17)."""
    from tubescope import Track
    from tubescope.render import Renderer

    video = Video(np.full((6, 120, 160, 3), 255, np.uint8))
    track = Track(0, frames=[0, 1, 4, 5], boxes=[[40, 30, 100, 90]] * 4, absent=[2])
    tube = track.to_tube(0, 6)
    assert tube.gaps.tolist() == [[2, 4]]
    result = GroundingResult("the square", tube, sampled_frames=[0, 5], frame_scores=[1.0, 0.5])
    renderer = Renderer([result], video)
    body = slice(0, 120 - renderer.style.timeline_height)
    for index in range(6):
        frame = video[index]
        changed = (renderer.draw(index, frame.copy())[body] != frame[body]).any()
        assert changed == (index not in (2, 3)), index
