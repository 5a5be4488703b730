"""Row attention capture equals eager ``output_attentions`` rows, with and without the shared prefix."""

from __future__ import annotations

import pytest
import torch
from tubescope.engine.backends.capture import RowCapture, capturing, row_attention

from tests.engine.backends.helpers import CAPTION, QUESTION, eager_attentions, random_frames

TOL = 1e-5


def reference(attentions, rows, columns, layers):
    """``(layers, rows, N)`` head-averaged eager attention over the visual positions ``columns``."""
    cols = torch.tensor(columns)
    return torch.stack(
        [attentions[layer][0][:, list(rows)][:, :, cols].mean(0) for layer in layers]
    ).float()


@pytest.mark.parametrize("shared", [False, True], ids=["single", "shared-prefix"])
def test_captured_rows_equal_eager(backend, shared):
    visual = backend.encode(random_frames(seed=1))
    prompt_gen = torch.Generator().manual_seed(3)
    visual_prompt = 0.5 * torch.randn(visual.embeds.shape, generator=prompt_gen)
    questions = [QUESTION, CAPTION, "Is there a dog?"] if shared else [QUESTION]
    outputs = backend.prefill(
        visual, questions, visual_prompt=visual_prompt, rows=None, per_layer=True
    )
    assert backend.counters["prefix_passes"] == (1 if shared else 0)
    assert backend.counters["forward_passes"] == len(questions)
    layers = list(range(backend.num_layers))
    for question, out in zip(questions, outputs, strict=True):
        attentions, prompt = eager_attentions(backend, visual, question, visual_prompt)
        assert out.rows == prompt.candidates
        expected = reference(attentions, out.rows, prompt.visual_index, layers)
        assert out.attention.shape == (
            backend.num_layers,
            len(prompt.candidates),
            visual.num_tokens,
        )
        assert out.attention.dtype == torch.float32
        assert not out.attention.requires_grad
        torch.testing.assert_close(out.attention, expected, atol=TOL, rtol=0)
        # the rows are real probability mass: positive, and at most 1 over the visual columns
        assert (out.attention > 0).all() and (out.attention.sum(-1) <= 1 + TOL).all()


def test_rows_inside_shared_prefix_and_layer_subsets(backend):
    """Rows that fall inside the shared prefix are captured by the prefix pass."""
    visual = backend.encode(random_frames(seed=2))
    prompt = backend.prompt(QUESTION, visual)
    inside_video = prompt.visual_index[3] - prompt.length  # the 4th visual token's row
    rows = [-1, -3, inside_video]
    layers = [-1, 0]
    outputs = backend.prefill(visual, [QUESTION, CAPTION], rows=rows, layers=layers)
    for question, out in zip([QUESTION, CAPTION], outputs, strict=True):
        attentions, p = eager_attentions(backend, visual, question)
        assert out.rows == tuple(p.length + r for r in rows)
        assert out.attention.shape == (3, visual.num_tokens)
        expected = reference(
            attentions, out.rows, p.visual_index, [backend.num_layers - 1, 0]
        ).mean(0)
        torch.testing.assert_close(out.attention, expected, atol=TOL, rtol=0)
        # a row inside the video attends only to the visual tokens up to itself
        # (the offset counts from each prompt's end, so it lands on another token of the caption)
        before = [i for i, pos in enumerate(p.visual_index) if pos <= out.rows[2]]
        assert before, "the row must lie inside the video"
        k = before[-1]
        video_row = out.attention[2]
        assert (video_row[k + 1 :] == 0).all() and (video_row[: k + 1] > 0).all()


def test_row_attention_matches_masked_softmax_with_gqa_and_mask():
    torch.manual_seed(0)
    q = torch.randn(1, 4, 6, 8)
    k = torch.randn(1, 2, 10, 8)
    rows = torch.tensor([0, 5])
    full_k = k.repeat_interleave(2, dim=1)
    scores = q @ full_k.transpose(-1, -2) * 0.3
    causal = torch.arange(10)[None, :] <= (torch.arange(6)[:, None] + 4)
    expected = torch.softmax(scores.masked_fill(~causal, float("-inf")), -1)[:, :, rows]
    torch.testing.assert_close(row_attention(q, k, None, rows, 0.3, 2), expected)
    bool_mask = causal[None, None]
    torch.testing.assert_close(row_attention(q, k, bool_mask, rows, 0.3, 2), expected)
    float_mask = torch.zeros(1, 1, 6, 10).masked_fill(~bool_mask, float("-inf"))
    torch.testing.assert_close(row_attention(q, k, float_mask, rows, 0.3, 2), expected)


def test_nothing_captured_outside_capturing_block(backend):
    capture = RowCapture(layers=[0], rows=[1], columns=(0, 1))
    visual = backend.encode(random_frames(seed=3))
    backend.prefill(visual, [QUESTION])  # its own captures, not ours
    assert capture.captured == {}
    with capturing(capture):
        pass
    with pytest.raises(RuntimeError, match="nothing was captured"):
        capture.result()


def test_attention_backend_switch_leaves_vision_tower_alone(backend):
    from tubescope.engine.backends.capture import ATTENTION_NAME

    config = backend.model.config
    assert config.get_text_config()._attn_implementation == ATTENTION_NAME
    assert config.vision_config._attn_implementation != ATTENTION_NAME
