"""The offline demo: its span is a real part of the clip, and boxes appear only where the
chosen object exists (in the result and in the rendered video)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tubescope import GroundingResult, Video
from tubescope.demo import DEMO_SHAPES, run_demo
from tubescope.proposals import read_tracks
from tubescope.render import Style

BOX_COLOUR = np.array([255, 59, 48])  # the first result's colour in tubescope.render


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    outputs = run_demo(tmp_path_factory.mktemp("demo"))
    result = GroundingResult.from_json(outputs.result.read_text())
    return outputs, result


def test_every_object_of_the_clip_enters_or_leaves_during_it(demo):
    outputs, _ = demo
    frames = Video(outputs.clip).frame_count
    for shape in DEMO_SHAPES:
        assert shape.appear > 0 or shape.disappear < frames, shape.name
    truth = json.loads(outputs.ground_truth.read_text())["clip.mp4"]
    assert 1 < truth["st_frame"] and len(truth["bbox"]) < frames


def test_the_span_is_a_real_part_of_the_clip(demo):
    outputs, result = demo
    frames = Video(outputs.clip).frame_count
    start, end = result.tube.span
    assert 0 <= start < end <= frames
    assert end - start <= frames // 2, (start, end)
    assert len(result.sampled_frames) > result.meta["config"]["temporal_k"]


def test_boxes_only_on_frames_where_the_chosen_track_exists(demo):
    outputs, result = demo
    clip = Video(outputs.clip)
    track = next(t for t in read_tracks(outputs.proposals, clip) if t.track_id == result.track_id)
    start, end = result.tube.span
    expected = [f for f in range(start, end) if track.first_frame <= f <= track.last_frame]
    assert result.tube.frames.tolist() == expected


def test_the_rendering_draws_a_box_exactly_on_the_tube_frames(demo):
    outputs, result = demo
    annotated = Video(outputs.annotated)
    body = annotated.height - Style.for_frame(annotated.width, annotated.height).timeline_height
    drawn = []
    for frame in annotated.iter_frames():
        near = np.abs(frame.image[:body].astype(int) - BOX_COLOUR).max(axis=2) < 40
        if near.sum() > 200:  # the box outline and the label's background
            drawn.append(frame.index)
    assert drawn == result.tube.frames.tolist()
