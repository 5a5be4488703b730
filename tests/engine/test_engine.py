"""The engine's logic with a stub backend whose attention and logits are planted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.engine.stub_backend import CANDIDATES, StubBackend
from tubescope.engine.config import GrounderConfig
from tubescope.engine.engine import Engine
from tubescope.engine.lra import learn_visual_prompt
from tubescope.types import SubQueries, Track

G, R, C = 4, 4, 4            # token grid: 4 frames (1 per group), 4x4 cells
SIZE = 160                   # 160x160 video: each cell is 40x40 px
SAMPLED = np.array([0, 13, 26, 39])
ATTR, ACTION, CAPTION = "Is there the red ball in this video?", "Is there The ball bounces in this video?", "please describe this video"
PARTS = SubQueries("the red ball", "The ball bounces.", False, "test")


def cell_box(row: int, col: int) -> list[float]:
    return [col * 40.0, row * 40.0, col * 40.0 + 40.0, row * 40.0 + 40.0]


def track(track_id: int, row: int, col: int, frames=range(40)) -> Track:
    frames = list(frames)
    return Track(track_id, frames=frames, boxes=[cell_box(row, col)] * len(frames))


def grid(peaks: dict[tuple[int, int, int], float], base: float = 0.1) -> np.ndarray:
    out = np.full((G, R, C), base, np.float32)
    for (g, r, c), value in peaks.items():
        out[g, r, c] = value
    return out


def setup(config: GrounderConfig, backend: StubBackend | None = None):
    backend = backend or StubBackend(G, R, C)
    engine = Engine(backend, config)
    encoded = engine.encode(np.zeros((4, 8, 8, 3), np.uint8), SAMPLED, width=SIZE, height=SIZE, frame_count=40)
    return backend, engine, encoded


NO_LRA = GrounderConfig(lra_steps=0, tas=False, num_frames=4, frame_score="coverage")


# ---------------------------------------------------------------- spatial + temporal
@pytest.mark.parametrize(
    ("strategy", "k", "expected_sampled", "expected_span"),
    [
        ("window", 2, (1, 2), (7, 33)),
        ("topk", 2, (0, 2), (0, 33)),
        ("adaptive", 1, (2, 2), (20, 33)),
    ],
)
def test_picks_planted_track_and_span(strategy, k, expected_sampled, expected_span):
    backend, engine, encoded = setup(NO_LRA.replace(temporal_strategy=strategy, temporal_k=k, adaptive_threshold=0.6))
    backend.plant(CAPTION, grid({}, base=1.0))
    backend.plant(ATTR, grid({(2, 1, 3): 9.0}))                                   # the ball sits in cell (1, 3)
    backend.plant(ACTION, grid({(0, 1, 3): 8.5, (1, 1, 3): 2.0, (2, 1, 3): 9.0, (3, 1, 3): 1.0, (0, 2, 2): 50.0}))
    tracks = [track(10, 2, 2), track(11, 1, 3), track(12, 0, 0)]
    outcome = engine.ground(encoded, "the red ball bounces", PARTS, tracks)
    assert outcome.track_index == 1
    assert outcome.track_scores.argmax() == 1 and outcome.track_scores[1] == pytest.approx(9.0 / (1 + 1e-4), rel=1e-5)
    # frame scores are read inside the chosen track only: the 50.0 at (2, 2) is another object
    raw = np.array([8.5, 2.0, 9.0, 1.0]) / 1.0001
    np.testing.assert_allclose(outcome.frame_scores, raw / (raw.max() + 1e-4), rtol=1e-5)
    assert outcome.sampled_span == expected_sampled
    assert outcome.span == expected_span


def test_span_mode_sampled_is_the_official_inclusive_span():
    backend, engine, encoded = setup(NO_LRA.replace(temporal_k=2, span_mode="sampled"))
    backend.plant(ATTR, grid({(2, 1, 3): 9.0}))
    backend.plant(ACTION, grid({(1, 1, 3): 8.0, (2, 1, 3): 9.0}))
    outcome = engine.ground(encoded, "q", PARTS, [track(1, 1, 3)])
    assert outcome.sampled_span == (1, 2) and outcome.span == (13, 27)


def test_track_absent_on_a_frame_scores_zero_there():
    backend, engine, encoded = setup(NO_LRA.replace(temporal_strategy="adaptive", adaptive_threshold=0.5))
    backend.plant(ATTR, grid({(1, 1, 1): 5.0}))
    backend.plant(ACTION, grid({(g, 1, 1): 5.0 for g in range(4)}))
    outcome = engine.ground(encoded, "q", PARTS, [track(3, 1, 1, frames=range(10, 30))])
    assert outcome.frame_scores[0] == 0 and outcome.frame_scores[3] == 0
    assert outcome.sampled_span == (1, 2)


def test_no_tracks_gives_no_span():
    backend, engine, encoded = setup(NO_LRA)
    outcome = engine.ground(encoded, "q", PARTS, [])
    assert outcome.track_index is None and outcome.span is None


def test_ties_pick_the_first_track():
    backend, engine, encoded = setup(NO_LRA)
    backend.plant(ATTR, grid({(0, 0, 0): 3.0, (0, 3, 3): 3.0}))
    outcome = engine.ground(encoded, "q", PARTS, [track(7, 3, 3), track(8, 0, 0)])
    assert outcome.track_index == 0


# ---------------------------------------------------------------- TAS
def test_tas_unflips_the_reversed_map():
    """The reversed pass sees the same content; un-flipped, it must point at track A in time.

    Track A lives in cell (1, 1) during sampled frame 1 only, track B in the same cell during
    sampled frame 2 only. The original map is ambiguous; the reversed pass's map (planted in
    content order) favours group 1. Without un-flipping it would favour group 2, i.e. track B.
    """
    config = NO_LRA.replace(tas=True)
    backend, engine, encoded = setup(config)
    backend.plant(ATTR, grid({(1, 1, 1): 4.0, (2, 1, 1): 4.0}), reversed_grid=grid({(1, 1, 1): 6.0, (2, 1, 1): 1.0}))
    a = track(1, 1, 1, frames=range(10, 16))   # around sampled frame 13
    b = track(2, 1, 1, frames=range(24, 30))   # around sampled frame 26
    outcome = engine.ground(encoded, "q", PARTS, [b, a])
    assert outcome.track_index == 1
    assert outcome.track_scores[1] == pytest.approx(4.0 / 1.0001 + 6.0 / 1.0001, rel=1e-4)
    assert outcome.spatial_reversed is not None
    assert any(reversed_ for _, reversed_, _ in backend.calls)


def test_tas_normalise_scales_each_map_to_peak_one():
    config = NO_LRA.replace(tas=True, tas_normalize=True)
    backend, engine, encoded = setup(config)
    backend.plant(ATTR, grid({(1, 1, 1): 4.0}), reversed_grid=grid({(1, 1, 1): 40.0}))
    outcome = engine.ground(encoded, "q", PARTS, [track(1, 1, 1)])
    assert outcome.track_scores[0] == pytest.approx(2.0, rel=1e-4)


def test_reversing_tokens_keeps_the_newline_in_place():
    backend = StubBackend(G, R, C, newline=True)
    _, engine, encoded = setup(NO_LRA.replace(tas=True), backend)
    reversed_tokens = encoded.tokens(True)
    assert torch.equal(reversed_tokens.embeds[-1], encoded.visual.embeds[-1])
    assert torch.equal(reversed_tokens.embeds[0], encoded.visual.embeds[(G - 1) * R * C])
    backend.plant(ATTR, grid({(3, 2, 2): 5.0}))
    outcome = engine.ground(encoded, "q", PARTS, [track(1, 2, 2)])
    assert outcome.track_index == 0
    assert backend.encodes == 1


# ---------------------------------------------------------------- grounding token
def test_adaptive_rule_picks_the_token_whose_map_peaks_highest():
    backend, engine, encoded = setup(NO_LRA)
    planted = np.stack([grid({(0, 0, 0): 2.0}), grid({}), grid({}), grid({(2, 3, 3): 5.0}), grid({})])
    backend.plant(ATTR, planted)
    outcome = engine.ground(encoded, "q", PARTS, [track(1, 0, 0), track(2, 3, 3)])
    assert outcome.spatial.choice.index == 3 and outcome.spatial.choice.token == CANDIDATES[3]
    assert outcome.track_index == 1


def test_fixed_rule_uses_the_offset_token():
    backend, engine, encoded = setup(NO_LRA.replace(token_rule="fixed", token_offset=-3))
    planted = np.stack([grid({}), grid({}), grid({(0, 0, 0): 2.0}), grid({(2, 3, 3): 5.0}), grid({})])
    backend.plant(ATTR, planted)
    outcome = engine.ground(encoded, "q", PARTS, [track(1, 0, 0), track(2, 3, 3)])
    assert outcome.spatial.choice.token == CANDIDATES[2]
    assert outcome.track_index == 0


def test_mean_rule_averages_the_candidates():
    backend, engine, encoded = setup(NO_LRA.replace(token_rule="mean"))
    planted = np.stack([grid({(0, 0, 0): 10.0})] + [grid({(2, 3, 3): 3.0})] * 4)
    backend.plant(ATTR, planted)
    outcome = engine.ground(encoded, "q", PARTS, [track(1, 0, 0), track(2, 3, 3)])
    assert outcome.spatial.choice.index is None
    assert outcome.track_index == 1  # mean: (10+4*0.1)/5 = 2.08 < (0.1+4*3)/5 = 2.42


def test_relative_attention_divides_by_the_caption_map():
    backend, engine, encoded = setup(NO_LRA)
    backend.plant(ATTR, grid({(0, 0, 0): 2.0, (1, 1, 1): 3.0}))
    backend.plant(CAPTION, grid({(1, 1, 1): 30.0}, base=1.0))  # a "register" token the caption also attends
    outcome = engine.ground(encoded, "q", PARTS, [track(1, 0, 0), track(2, 1, 1)])
    assert outcome.track_index == 0


# ---------------------------------------------------------------- LRA
def test_lra_step_moves_the_prompt_along_the_margin_gradient():
    backend = StubBackend(G, R, C)
    backend.sensitivity = {CAPTION: 0.25}
    _, engine, encoded = setup(NO_LRA, backend)
    result = learn_visual_prompt(backend, encoded.visual, ATTR, CAPTION, steps=1, lr=8.0, beta=0.5)
    # loss = 1 - m(attr) + m(cap): gradient = -(1 - 0.25) * direction; V = 6 d; EMA = 3 d
    torch.testing.assert_close(result.prompt, 3.0 * backend.direction)
    assert result.forward_passes == 2 and result.backward_passes == 1
    two = learn_visual_prompt(backend, encoded.visual, ATTR, CAPTION, steps=2, lr=8.0, beta=0.5)
    torch.testing.assert_close(two.prompt, 0.5 * 12.0 * backend.direction + 0.5 * 3.0 * backend.direction)


def test_lra_paper_loss_uses_only_the_question():
    backend = StubBackend(G, R, C)
    _, engine, encoded = setup(NO_LRA, backend)
    backend.base_margin[ATTR] = 0.0
    result = learn_visual_prompt(backend, encoded.visual, ATTR, CAPTION, steps=1, lr=1.0, beta=1.0, loss="paper")
    # loss = -exp(m); dm/dV = d; at V=0 the gradient is -d; V = d
    torch.testing.assert_close(result.prompt, backend.direction)
    assert result.forward_passes == 1


def test_engine_counts_passes_and_reuses_the_caption():
    config = GrounderConfig(num_frames=4, lra_steps=1, tas=True)
    backend, engine, encoded = setup(config)
    engine.ground(encoded, "q", PARTS, [track(1, 1, 1)])
    # three prompts learned (spatial, reversed spatial, temporal): 2 forwards + 1 backward each,
    # then 2 inference forwards each (the caption must be re-run under each prompt)
    assert engine.stats["vision_encodes"] == 1
    assert engine.stats["backward_passes"] == 3
    assert engine.stats["forward_passes"] == 3 * 2 + 3 * 2
    assert backend.encodes == 1


def test_without_prompts_the_caption_pass_is_shared():
    backend, engine, encoded = setup(NO_LRA.replace(tas=True))
    engine.ground(encoded, "q1", PARTS, [track(1, 1, 1)])
    first = engine.stats["forward_passes"]
    engine.ground(encoded, "q2", PARTS, [track(1, 1, 1)])
    # query 1: attr+caption, reversed attr+caption, action; query 2: attr, reversed attr, action
    assert first == 5 and engine.stats["forward_passes"] == 8


def test_layer_window_reaches_the_backend():
    backend, engine, encoded = setup(NO_LRA.replace(layers=(1, 2)))
    engine.ground(encoded, "q", PARTS, [track(1, 1, 1)])
    assert backend.layers_seen[-1] == [1, 2]
    with pytest.raises(ValueError, match="outside the model's 4 layers"):
        Engine(backend, NO_LRA.replace(layers=(7,)))


def test_confidence_is_the_unprompted_yes_probability():
    backend, engine, encoded = setup(NO_LRA)
    backend.plant(ATTR, grid({}), margin=2.0)
    backend.plant(ACTION, grid({}), margin=-2.0)
    outcome = engine.ground(encoded, "q", PARTS, [track(1, 1, 1)])
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert outcome.confidence == pytest.approx(np.sqrt(sig(2.0) * sig(-2.0)))
