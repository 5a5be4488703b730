"""Prefill: logits equal transformers' own forward, the shared prefix changes nothing but the
work done, gradients reach only the visual prompt."""

from __future__ import annotations

import pytest
import torch
from tubescope.engine.backends.internvl import InternVLBackend
from tubescope.engine.backends.qwen2_vl import Qwen2VLBackend, Qwen25VLBackend
from tubescope.errors import QueryError

from tests.engine.backends.helpers import CAPTION, QUESTION, random_frames

QUESTIONS = [QUESTION, CAPTION, "Is there a dog in this video?"]


def official_logits(backend, frames, question):
    """Last-position logits of transformers' own multimodal forward from pixels."""
    prompt = backend.prompt(question, backend.encode(frames))
    ids = prompt.input_ids[None].to(backend.device)
    kwargs = {}
    if isinstance(backend, Qwen2VLBackend):
        patches, grid, per_group = backend.pixel_values(frames)
        kwargs["pixel_values_videos"] = torch.from_numpy(patches)
        kwargs["video_grid_thw"] = torch.tensor([grid])
        kwargs["mm_token_type_ids"] = (ids == backend.placeholder_id).int() * 2
        if isinstance(backend, Qwen25VLBackend):
            kwargs["second_per_grid_ts"] = torch.tensor([per_group / backend.options["sample_fps"]])
    elif isinstance(backend, InternVLBackend):
        kwargs["pixel_values"] = torch.from_numpy(
            backend.pixel_values(frames)
        )  # one image per frame
    else:
        kwargs["pixel_values_videos"] = torch.from_numpy(backend.pixel_values(frames))[None]
    with torch.no_grad():
        out = backend.model(input_ids=ids, **kwargs)
    return out.logits[0, -1].float()


def test_logits_equal_transformers_forward(backend):
    frames = random_frames(seed=4)
    visual = backend.encode(frames)
    outputs = backend.prefill(visual, QUESTIONS)
    for question, out in zip(QUESTIONS, outputs, strict=True):
        expected = official_logits(backend, frames, question)
        assert (
            out.logits.shape
            == expected.shape
            == (backend.model.config.get_text_config().vocab_size,)
        )
        torch.testing.assert_close(out.logits, expected, atol=1e-5, rtol=1e-5)


def test_shared_prefix_counts_and_matches_separate_forwards(backend):
    visual = backend.encode(random_frames(seed=5))
    shared = backend.prefill(visual, QUESTIONS, rows=[-1, -2])
    counters = backend.reset_counters()
    lengths = [backend.prompt(q, visual).length for q in QUESTIONS]
    assert counters["vision_encodes"] == 1
    assert counters["prefix_passes"] == 1 and counters["forward_passes"] == 3
    # the prefix is pushed once: tokens = P + sum(L - P) = sum(L) - 2P with P >= end of the video
    prefix = (sum(lengths) - counters["forward_tokens"]) // 2
    assert prefix >= backend.prompt(QUESTION, visual).visual_end
    backend.share_prefix = False
    try:
        separate = backend.prefill(visual, QUESTIONS, rows=[-1, -2])
    finally:
        backend.share_prefix = True
    counters = backend.reset_counters()
    assert counters["prefix_passes"] == 0 and counters["forward_passes"] == 3
    assert counters["forward_tokens"] == sum(lengths)
    for a, b in zip(shared, separate, strict=True):
        torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.attention, b.attention, atol=1e-6, rtol=0)
        assert a.rows == b.rows and a.row_tokens == b.row_tokens


def _code_loss(backend, visual, prompt):
    caption, question = backend.prefill(
        visual, [CAPTION, QUESTION], visual_prompt=prompt, rows=[-1]
    )
    return 1 - backend.margin(question) + backend.margin(caption)


def test_gradient_step_changes_margin_and_leaves_parameters(backend):
    visual = backend.encode(random_frames(seed=6))
    before = {name: p.detach().clone() for name, p in backend.model.named_parameters()}
    prompt = torch.zeros(visual.embeds.shape, requires_grad=True)
    margin = backend.margin(backend.prefill(visual, [QUESTION], visual_prompt=prompt, rows=[-1])[0])
    (-margin).backward()
    grad = prompt.grad
    assert grad is not None and grad.shape == visual.embeds.shape
    # every visual token gets gradient (each one is attended to)
    assert (grad.abs().sum(-1) > 0).all()
    step = (prompt - 0.5 * grad / grad.norm()).detach()
    with torch.no_grad():
        after = backend.margin(backend.prefill(visual, [QUESTION], visual_prompt=step)[0])
    assert float(after) > float(margin.detach()) + 1e-4
    for name, p in backend.model.named_parameters():
        assert not p.requires_grad and p.grad is None, name
        assert torch.equal(p, before[name]), name
    assert not backend.model.training


def test_code_loss_step_over_shared_prefix(backend):
    """The official two-question loss, one backward through the shared prefix, decreases."""
    visual = backend.encode(random_frames(seed=6))
    prompt = torch.zeros(visual.embeds.shape, requires_grad=True)
    loss = _code_loss(backend, visual, prompt)
    counters = backend.reset_counters()
    assert counters["prefix_passes"] == 1 and counters["forward_passes"] == 2
    (grad,) = torch.autograd.grad(loss, prompt)
    step = (prompt - 0.5 * grad / grad.norm()).detach()
    with torch.no_grad():
        after = _code_loss(backend, visual, step)
    assert float(after) < float(loss.detach()) - 1e-4


def test_gradient_through_shared_prefix_equals_separate_forwards(backend):
    visual = backend.encode(random_frames(seed=7))
    grads = []
    for share in (True, False):
        backend.share_prefix = share
        try:
            prompt = torch.zeros(visual.embeds.shape, requires_grad=True)
            (grad,) = torch.autograd.grad(_code_loss(backend, visual, prompt), prompt)
        finally:
            backend.share_prefix = True
        grads.append(grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_no_graph_without_a_prompt_that_requires_grad(backend):
    visual = backend.encode(random_frames(seed=8))
    out = backend.prefill(
        visual, [QUESTION, CAPTION], visual_prompt=torch.zeros(visual.embeds.shape)
    )
    assert not out[0].logits.requires_grad
    prompt = torch.zeros(visual.embeds.shape, requires_grad=True)
    with torch.no_grad():
        out = backend.prefill(visual, [QUESTION], visual_prompt=prompt)
    assert not out[0].logits.requires_grad


def test_prefill_argument_errors(backend):
    visual = backend.encode(random_frames(num=2, seed=9))
    with pytest.raises(ValueError, match="visual_prompt must have"):
        backend.prefill(visual, [QUESTION], visual_prompt=torch.zeros(3, backend.hidden_size))
    length = backend.prompt(QUESTION, visual).length
    with pytest.raises(ValueError, match="row offset 0"):
        backend.prefill(visual, [QUESTION], rows=[0])
    with pytest.raises(ValueError, match=f"row offset {-length - 1}"):
        backend.prefill(visual, [QUESTION], rows=[-length - 1])
    with pytest.raises(ValueError, match="layer 7"):
        backend.prefill(visual, [QUESTION], layers=[7])
    with pytest.raises(TypeError, match="single string"):
        backend.prefill(visual, QUESTION)
    with pytest.raises(QueryError, match="empty"):
        backend.prefill(visual, ["  "])
    with pytest.raises(QueryError, match="placeholder"):
        backend.prefill(visual, [f"what is {backend.template.placeholder} here?"])
