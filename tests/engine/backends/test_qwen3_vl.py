"""Qwen3-VL specifics (the backend suite runs on it like on every family; see
sdk/engine/backends/qwen3_vl.py): DeepStack features ride with the visual tokens through the
prefill (chunked by the shared prefix) and the frame reversal, and the reversed pass is the
video played backwards, its printed times included."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from tubescope import preset
from tubescope.engine.backends.base import unreverse_grid
from tubescope.engine.backends.qwen3_vl import Qwen3VLBackend, group_seconds, reversed_seconds
from tubescope.errors import ValidationError

from tests.engine.backends.helpers import (
    CAPTION,
    QUESTION,
    full_inputs,
    isolate_vision_tokens,
    load_cpu,
    random_frames,
)

QUESTIONS = [QUESTION, CAPTION]
TIMES = [0.0, 0.4, 1.5, 2.0]  # uneven: a variable-frame-rate clip


def printed_times(backend, visual) -> list[str]:
    text = backend.tokenizer.decode(backend.prompt(QUESTION, visual).input_ids)
    return re.findall(r"<([\d.]+) seconds>", text)


@pytest.fixture(scope="module")
def per_frame(tiny_dirs):
    """One frame per temporal patch: reversing the groups is reversing the frames."""
    return load_cpu(tiny_dirs["qwen3-vl"], duplicate_frames=True)


def test_deepstack_features_come_from_the_tower_and_reach_the_model(backends):
    backend = backends["qwen3-vl"]
    assert isinstance(backend, Qwen3VLBackend)
    frames = random_frames(4, 128, 128, seed=30)
    visual = backend.encode(frames)
    vision = backend.model.config.vision_config
    assert tuple(visual.layer_embeds.shape) == (
        len(vision.deepstack_visual_indexes),
        visual.num_tokens,
        backend.hidden_size,
    )
    patches, grid, _ = backend.pixel_values(frames)
    with torch.no_grad():
        out = backend.model.model.get_video_features(
            pixel_values_videos=torch.from_numpy(patches), video_grid_thw=torch.tensor([grid])
        )
    for mine, theirs in zip(visual.layer_embeds, out.deepstack_features, strict=True):
        torch.testing.assert_close(mine, theirs[0], atol=0, rtol=0)
    # the features change the answer: without them the logits are not the model's
    with_them = backend.prefill(visual, [QUESTION])[0].logits
    without = backend.prefill(replace(visual, layer_embeds=None), [QUESTION])[0].logits
    assert (with_them - without).abs().max() > 1e-3


def test_a_prefix_cut_inside_the_video_gets_each_chunks_features(backends):
    """The KV-cached forward of two chunks split inside the visual span, each with the
    DeepStack features of its own positions, equals one forward of the whole prompt."""
    backend = backends["qwen3-vl"]
    visual = backend.encode(random_frames(4, 128, 128, seed=31))
    embeds, positions, prompt, whole = full_inputs(backend, visual, QUESTION)
    cut = prompt.visual_index[visual.num_tokens // 2 + 3]  # inside the second block
    lm, index = backend.language_model, prompt.visual_index
    with torch.no_grad():
        expected = lm(inputs_embeds=embeds, position_ids=positions, **whole).last_hidden_state
        head = backend._language_model_inputs(visual, index, 0, cut)
        rest = backend._language_model_inputs(visual, index, cut, prompt.length)
        first = lm(inputs_embeds=embeds[:, :cut], position_ids=positions[..., :cut],
                   use_cache=True, **head)
        second = lm(inputs_embeds=embeds[:, cut:], position_ids=positions[..., cut:],
                    past_key_values=first.past_key_values, use_cache=True, **rest)
    counts = [int(part["visual_pos_masks"].sum()) for part in (head, rest)]
    assert sum(counts) == visual.num_tokens and min(counts) > 0
    joined = torch.cat([first.last_hidden_state, second.last_hidden_state], dim=1)
    torch.testing.assert_close(joined, expected, atol=1e-5, rtol=1e-5)
    # a chunk with no visual token gets no DeepStack input
    assert backend._language_model_inputs(visual, prompt.visual_index, 0, prompt.visual_start) == {}


def test_reversed_pass_is_the_video_played_backwards(per_frame):
    """Reversing the encoded tokens (DeepStack features and printed times included) is
    encoding the frames backwards, re-timed as a video played backwards: same prompt, same
    features, same logits and attention; the text never gives the true order away."""
    frames = random_frames(4, 128, 128, seed=32)
    forward = per_frame.encode(frames, timestamps=TIMES)
    backwards_times = reversed_seconds(TIMES)  # frame times of the clip played backwards
    assert backwards_times == [0.0, 0.5, 1.6, 2.0]
    backward = per_frame.encode(frames[::-1].copy(), timestamps=backwards_times)
    rev = forward.reversed_frames()
    assert printed_times(per_frame, forward) == ["0.0", "0.4", "1.5", "2.0"]
    assert printed_times(per_frame, rev) == ["0.0", "0.5", "1.6", "2.0"]  # increasing
    assert torch.equal(
        per_frame.prompt(QUESTION, rev).input_ids, per_frame.prompt(QUESTION, backward).input_ids
    )
    torch.testing.assert_close(rev.embeds, backward.embeds, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rev.layer_embeds, backward.layer_embeds, atol=1e-5, rtol=1e-5)
    pairs = zip(per_frame.prefill(rev, QUESTIONS), per_frame.prefill(backward, QUESTIONS), strict=True)
    for a, b in pairs:
        torch.testing.assert_close(a.logits, b.logits, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(a.attention, b.attention, atol=1e-5, rtol=1e-4)
    # reversed twice: the forward tokens, features and text
    again = rev.reversed_frames()
    assert torch.equal(again.layer_embeds, forward.layer_embeds) and not again.reversed
    assert printed_times(per_frame, again) == printed_times(per_frame, forward)


def test_features_left_in_video_order_break_the_reversed_pass(per_frame):
    """What reversing the DeepStack features buys: the same reversed tokens with the
    features still in video order are not the backwards video."""
    frames = random_frames(4, 128, 128, seed=33)
    forward = per_frame.encode(frames, timestamps=TIMES)
    backward = per_frame.encode(frames[::-1].copy(), timestamps=reversed_seconds(TIMES))
    stale = replace(forward.reversed_frames(), layer_embeds=forward.layer_embeds)
    good = per_frame.prefill(forward.reversed_frames(), [QUESTION])[0].logits
    bad = per_frame.prefill(stale, [QUESTION])[0].logits
    expected = per_frame.prefill(backward, [QUESTION])[0].logits
    torch.testing.assert_close(good, expected, atol=1e-4, rtol=1e-4)
    assert (bad - expected).abs().max() > 1e-3


def test_evenly_spaced_frames_keep_their_text_when_reversed(backends):
    backend = backends["qwen3-vl"]  # two frames per temporal patch
    visual = backend.encode(random_frames(8, 128, 128, seed=34), timestamps=np.arange(8) / 4)
    assert printed_times(backend, visual) == ["0.1", "0.6", "1.1", "1.6"]
    rev = visual.reversed_frames()
    same = backend.prompt(QUESTION, rev).input_ids, backend.prompt(QUESTION, visual).input_ids
    assert torch.equal(*same)
    assert not torch.equal(rev.embeds, visual.embeds)


def test_planted_content_unflips_to_its_frame(tiny_dirs):
    """A square planted in frame 2 changes one token of the forward encoding, its reversed
    twin in the reversed tokens (embeddings and every DeepStack layer), and un-reversing a map
    over the reversed tokens puts it back at frame 2's cell."""
    backend = load_cpu(tiny_dirs["qwen3-vl"], duplicate_frames=True)
    assert isolate_vision_tokens(backend.model) == 2
    frames = random_frames(4, 128, 192, seed=35)
    planted = frames.copy()
    planted[2, 32:64, 96:128] = 255 - planted[2, 32:64, 96:128]  # cell (row 1, col 3)
    base, marked = backend.encode(frames), backend.encode(planted)
    layout = base.layout
    assert layout.grid_shape == (4, 4, 6)
    rev_base, rev_marked = base.reversed_frames(), marked.reversed_frames()
    for a, b in ((base, marked), (rev_base, rev_marked)):
        changed = (a.embeds - b.embeds).abs().amax(-1) > 1e-6
        layer_changed = (a.layer_embeds - b.layer_embeds).abs().amax(-1) > 1e-6
        assert torch.equal(layer_changed, changed[None].expand_as(layer_changed))
        cells = np.argwhere(layout.to_grid(changed.numpy()))
        group = 2 if a is base else 1  # reversed: frame 2 of 4 sits in group 1
        assert cells.tolist() == [[group, 1, 3]]
    reversed_map = (rev_base.embeds - rev_marked.embeds).abs().amax(-1).numpy()
    unflipped = unreverse_grid(layout.to_grid(reversed_map))
    assert np.argwhere(unflipped > 1e-6).tolist() == [[2, 1, 3]]


def test_frame_times_default_to_sample_fps_and_are_checked(tiny_dirs):
    backend = load_cpu(tiny_dirs["qwen3-vl"], sample_fps=4.0)
    frames = random_frames(4, 128, 128, seed=36)
    visual = backend.encode(frames)
    assert visual.extra["group_seconds"] == (0.125, 0.625)  # frames at 0, 0.25, 0.5, 0.75 s
    assert backend.encode(frames, timestamps=[1, 2, 3, 4]).extra["group_seconds"] == (1.5, 3.5)
    for bad, message in (([0, 1, 2], "3 timestamps for 4 frames"), ([0, 2, 1, 3], "non-decreasing"),
                         ([0, 1, float("nan"), 3], "finite")):
        with pytest.raises(ValidationError, match=message) as info:
            backend.encode(frames, timestamps=bad)
        assert info.value.field == "timestamps"
    assert group_seconds([0.0, 1.0, 2.0], 2) == [0.5, 2.0]  # an odd count repeats the last frame


def test_clip_budget_and_options(tiny_dirs):
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

    backend = load_cpu(tiny_dirs["qwen3-vl"])
    budget = backend.preprocessor.max_pixels
    for count in (2, 8, 32, 64):  # more frames, smaller frames
        assert backend.frame_size(360, 640, count) == smart_resize(
            count, 360, 640, temporal_factor=2, factor=32, min_pixels=4096, max_pixels=budget
        )
    assert backend.frame_size(360, 640, 64)[0] < backend.frame_size(360, 640, 2)[0]
    # the real clip budget (25165824 px) with qwen-vl-utils' cap: at most 768 tokens a frame
    real = 25165824
    capped = load_cpu(tiny_dirs["qwen3-vl"], cap_pixels_per_frame=True, max_pixels=real)
    uncapped = load_cpu(tiny_dirs["qwen3-vl"], max_pixels=real)
    h, w = capped.frame_size(1080, 1920, 20)
    assert (h, w) == smart_resize(
        20, 1080, 1920, temporal_factor=2, factor=32, min_pixels=4096, max_pixels=768 * 1024 * 20
    )
    big_h, big_w = uncapped.frame_size(1080, 1920, 20)
    assert h * w <= 768 * 1024 < big_h * big_w
    sized = load_cpu(tiny_dirs["qwen3-vl"], size=(64, 96))
    assert sized.encode(random_frames(2, 100, 100, seed=1)).layout.grid_shape == (1, 2, 3)
    with pytest.raises(ValueError, match="multiples of 32"):
        load_cpu(tiny_dirs["qwen3-vl"], size=(56, 84)).encode(random_frames(2, seed=1))


def test_paper_style_preset_is_ours_and_runs(tiny_dirs):
    config = preset("paper", "qwen3-vl")
    assert (config.num_frames, config.resolution, config.token_offset) == (20, 256, -3)
    assert config.backend_options == {"duplicate_frames": True, "size": (256, 256)}
    assert preset("paper", "qwen3-vl", dataset="vidstg").num_frames == 10
    assert preset("default", "qwen3-vl") == preset("default")
    backend = load_cpu(tiny_dirs["qwen3-vl"], **config.backend_options)
    visual = backend.encode(random_frames(20, 256, 256, seed=37), timestamps=np.arange(20) / 2)
    assert visual.layout.grid_shape == (20, 8, 8)  # one 8 x 8 block per frame, each its own time
    assert printed_times(backend, visual)[:3] == ["0.0", "0.5", "1.0"]
    out = backend.prefill(visual, [QUESTION], rows=[config.token_offset])[0]
    assert out.row_tokens == ("<|im_start|>",)
