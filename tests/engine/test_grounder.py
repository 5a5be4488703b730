"""The public Grounder API over a stub backend and a synthetic clip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.engine.stub_backend import StubBackend
from tubescope import Grounder, GrounderConfig, GroundingResult
from tubescope.errors import ProposalError, QueryError, VideoError
from tubescope.synthetic import ShapeSpec, make_clip
from tubescope.types import SubQueries, Track

CONFIG = GrounderConfig(num_frames=4, lra_steps=1, tas=True, temporal_k=2)


class FixedDecomposer:
    name = "fixed"

    def decompose(self, query, video_id=None):
        return SubQueries("the target", "The target moves.", False, self.name)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    shapes = [
        ShapeSpec("red", "square", 30, start=(40.0, 60.0), end=(40.0, 60.0), appear=0, disappear=40),
        ShapeSpec("blue", "circle", 30, start=(140.0, 140.0), end=(140.0, 140.0), appear=10, disappear=40),
    ]
    return make_clip(tmp_path_factory.mktemp("g") / "two.mp4", shapes=shapes, width=160, height=160,
                     num_frames=40, fps=20)


def make_grounder(clip, **kwargs):
    backend = StubBackend(4, 4, 4)
    grounder = Grounder(backend, proposals=[o.track for o in clip.objects], decomposer=FixedDecomposer(),
                        config=kwargs.pop("config", CONFIG), **kwargs)
    return backend, grounder


def test_grounds_the_planted_object_and_span(clip):
    backend, grounder = make_grounder(clip)
    attr_q, action_q = "Is there the target in this video?", "Is there The target moves in this video?"
    blue = np.full((4, 4, 4), 0.1, np.float32)
    blue[2, 3, 3] = 5.0                      # the blue circle sits around (140, 140): cell (3, 3)
    action = np.full((4, 4, 4), 0.1, np.float32)
    action[2:, 3, 3] = 5.0                   # it "moves" in the last two sampled frames
    backend.plant(attr_q, blue)
    backend.plant(action_q, action)
    result = grounder.ground(clip.path, "the blue circle")
    assert isinstance(result, GroundingResult)
    assert result.track_id == 1 and result.tube.track_id == 1
    assert result.sampled_frames.tolist() == [0, 13, 26, 39]
    assert result.tube.span == (20, 40)      # "cover" spans: halfway to the unchosen neighbour
    assert result.tube.frames[0] == 20 and len(result.tube.frames) == 20
    np.testing.assert_allclose(result.tube.box_at(30), clip.objects[1].tube.box_at(30))
    assert result.tube.fps == 20.0 and result.tube.start_time == pytest.approx(1.0)
    assert result.tube.end_time == pytest.approx(2.0)
    assert set(result.track_scores) == {"0", "1"} and result.track_scores["1"] > result.track_scores["0"]
    assert result.sub_queries == SubQueries("the target", "The target moves.", False, "fixed")
    assert result.grounding_token in ("<|im_end|>", "\n", "<|im_start|>", "assistant")
    assert result.proposal_source == "given"
    assert result.stats["vision_encodes"] == 1 and result.stats["backward_passes"] == 3
    assert result.maps is None
    assert 0 <= result.tube.score <= 1
    assert GroundingResult.from_json(result.to_json()) == result


def test_ground_many_encodes_once_and_is_deterministic(clip):
    backend, grounder = make_grounder(clip)
    first = grounder.ground_many(clip.path, ["the red square", "the blue circle"], return_maps=True)
    assert backend.encodes == 1
    assert [r.stats["vision_encodes"] for r in first] == [1.0, 1.0]
    assert first[0].maps["spatial"].shape == (4, 4, 4)
    again = grounder.ground_many(clip.path, ["the red square", "the blue circle"], return_maps=True)

    def without_timings(result):
        data = result.to_dict()
        data["stats"] = {k: v for k, v in data["stats"].items() if "seconds" not in k}
        return json.dumps(data, sort_keys=True)

    assert [without_timings(r) for r in first] == [without_timings(r) for r in again]
    assert again[1].stats["vision_encodes"] == 1


def test_full_video_frame_tube_uses_video_timestamps(clip):
    _, grounder = make_grounder(clip)
    result = grounder.ground(clip.path, "anything")
    tube = result.tube
    assert tube.start_frame in range(40) and tube.end_frame <= 40
    assert tube.start_time == pytest.approx(tube.start_frame / 20)


def test_paper_style_config_runs(clip):
    config = GrounderConfig(num_frames=4, layers="official", token_rule="fixed", lra_steps=2,
                            temporal_strategy="window", temporal_k=2, span_mode="sampled", resolution=64)
    _, grounder = make_grounder(clip, config=config)
    result = grounder.ground(clip.path, "the red square")
    start, end = result.tube.span
    assert start in (0, 13, 26, 39) and end - 1 in (0, 13, 26, 39)
    assert result.grounding_token == "<|im_start|>"


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query(clip, query):
    _, grounder = make_grounder(clip)
    with pytest.raises(QueryError, match="empty"):
        grounder.ground(clip.path, query)


def test_ground_many_refuses_a_bare_string_instead_of_grounding_its_letters(clip):
    backend, grounder = make_grounder(clip)
    with pytest.raises(QueryError, match=r"ground_many takes a list of queries, got the single string 'dog'"):
        grounder.ground_many(clip.path, "dog")
    assert grounder.engine.stats["vision_encodes"] == 0  # refused before any work


def test_video_with_fewer_frames_than_requested(clip):
    _, grounder = make_grounder(clip, config=CONFIG.replace(num_frames=60))
    with pytest.raises(VideoError, match="has 40 frames, fewer than the 60"):
        grounder.ground(clip.path, "x")


def test_proposals_that_do_not_match_the_video(clip):
    backend = StubBackend(4, 4, 4)
    late = Track(9, frames=[10, 50], boxes=[[0, 0, 5, 5]] * 2)
    grounder = Grounder(backend, proposals=[late], decomposer=FixedDecomposer(), config=CONFIG)
    with pytest.raises(ProposalError, match=r"track \[0\] \(id 9\) frames\[1\]: frame 50 is beyond the video's 40 frames"):
        grounder.ground(clip.path, "x")
    wide = Track(4, frames=[0], boxes=[[0, 0, 400, 20]])
    grounder = Grounder(backend, proposals=[wide], decomposer=FixedDecomposer(), config=CONFIG)
    with pytest.raises(ProposalError, match=r"\(id 4\) boxes\[0\].*160x160"):
        grounder.ground(clip.path, "x")


def test_default_decomposer_is_rules_for_a_backend_without_text_generation(clip):
    backend = StubBackend(4, 4, 4)
    grounder = Grounder(backend, proposals=[o.track for o in clip.objects], config=CONFIG)
    result = grounder.ground(clip.path, "The man in purple clothes sits on the bench.")
    assert result.sub_queries.source == "rules"
    assert result.sub_queries.attribute == "the man in purple clothes"


def test_tracks_argument_overrides_proposals_and_array_video(clip):
    backend = StubBackend(4, 4, 4)
    grounder = Grounder(backend, decomposer=FixedDecomposer(), config=CONFIG)
    frames = clip.to_array()
    result = grounder.ground(frames, "x", tracks=[clip.objects[0].track])
    assert result.track_id == 0 and result.video is None
    assert result.proposal_source == "given"


def test_bad_arguments(clip):
    backend = StubBackend(4, 4, 4)
    with pytest.raises(TypeError, match="proposals must be"):
        Grounder(backend, proposals=42, config=CONFIG)
    with pytest.raises(TypeError, match="decomposer must be"):
        Grounder(backend, decomposer=3.5, config=CONFIG)


def test_a_bad_proposal_spec_fails_before_the_model_loads(monkeypatch, tmp_path):
    import tubescope.engine.backends as backends

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the proposal spec was checked")

    monkeypatch.setattr(backends, "detect_family", never)
    monkeypatch.setattr(backends, "load_backend", never)
    for spec in ("foo", "detector:yolo", f"precomputed:{tmp_path / 'missing.json'}"):
        with pytest.raises(ProposalError, match="^invalid proposal spec"):
            Grounder(tmp_path / "model", proposals=spec)


def test_without_proposals_tracks_come_from_the_attention_map(clip):
    backend = StubBackend(4, 4, 4)
    grounder = Grounder(backend, decomposer=FixedDecomposer(), config=CONFIG.replace(tas=False))
    blob = np.full((4, 4, 4), 0.01, np.float32)
    blob[:, 3, 3] = 5.0                     # every sampled frame: the bottom-right cell
    backend.plant("Is there the target in this video?", blob)
    backend.plant("Is there The target moves in this video?", blob)
    result = grounder.ground(clip.path, "the blue circle")
    assert result.proposal_source == "attention"
    x1, y1, x2, y2 = result.tube.boxes[0]
    assert (x1, y1) >= (110, 110) and (x2, y2) <= (161, 161)   # the cell (3, 3) of a 160x160 frame


def test_span_restricts_sampling_and_the_tube(clip):
    _, grounder = make_grounder(clip)
    result = grounder.ground(clip.path, "the blue circle", span=(10, 30))
    assert result.sampled_frames.tolist() == [10, 16, 22, 29]  # 10 + int(linspace(0, 19, 4))
    assert 10 <= result.tube.start_frame and result.tube.end_frame <= 30
    with pytest.raises(VideoError, match=r"has, in the span \[10, 12\), 2 frames, fewer than the 4"):
        grounder.ground(clip.path, "x", span=(10, 12))
    with pytest.raises(VideoError, match=r"span \[30, 50\) is not inside \[0, 40\)"):
        grounder.ground(clip.path, "x", span=(30, 50))


# ---------------------------------------------------------------- issue 12 items 3 and 9, issue 17
class TimedStub(StubBackend):
    """A stub whose encode takes the sampled frames' timestamps, like Qwen2.5-VL's."""

    def encode(self, frames, frame_indices=None, *, timestamps=None):
        self.timestamps = timestamps
        return super().encode(frames, frame_indices)


def test_the_sampled_frames_timestamps_reach_the_backend(clip):
    backend = TimedStub(4, 4, 4)
    grounder = Grounder(backend, proposals=[o.track for o in clip.objects], decomposer=FixedDecomposer(), config=CONFIG)
    result = grounder.ground(clip.path, "the red square")
    np.testing.assert_allclose(backend.timestamps, np.asarray(clip.timestamps)[result.sampled_frames])


def absent_tail_video():
    """200 frames; one track seen on frames 0-20 and marked absent on every 10th frame after."""
    track = Track(1, frames=[0, 10, 20], boxes=[[0.0, 0.0, 8.0, 8.0]] * 3, absent=list(range(30, 200, 10)))
    return np.zeros((200, 16, 16, 3), np.uint8), track


def test_paper_tube_has_gaps_where_the_official_span_reaches_absent_frames():
    video, track = absent_tail_video()
    config = GrounderConfig(num_frames=20, lra_steps=0, tas=False, temporal_k=6, span_mode="sampled",
                            sample_frames="proposals", window_tie="stop", span_inside_track=False)
    grounder = Grounder(StubBackend(20, 4, 4), proposals=[track], decomposer=FixedDecomposer(), config=config)
    result = grounder.ground(video, "q")
    assert result.sampled_frames.tolist() == list(range(0, 200, 10))  # the proposal frames
    assert result.tube.span == (0, 51)  # the official window grows into frames 30-50 (vs -100 out of range)
    assert result.tube.gaps.tolist() == [[21, 51]] and result.tube.box_at(40) is None


def test_default_tube_stays_where_the_track_exists():
    video, track = absent_tail_video()
    config = GrounderConfig(num_frames=20, lra_steps=0, tas=False, temporal_k=6)
    grounder = Grounder(StubBackend(20, 4, 4), proposals=[track], decomposer=FixedDecomposer(), config=config)
    result = grounder.ground(video, "q")
    assert result.meta["sampled_over"] == "video"
    assert result.tube.span == (0, 21) and len(result.tube.gaps) == 0
