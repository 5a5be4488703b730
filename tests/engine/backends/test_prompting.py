"""Prompts: templates, placeholder expansion, candidate grounding tokens, yes/no ids."""

from __future__ import annotations

import pytest
import torch
from tubescope.engine.backends.internvl import InternVLBackend
from tubescope.engine.backends.llava_next_video import LlavaNextVideoBackend
from tubescope.engine.backends.llava_onevision import LlavaOnevisionBackend
from tubescope.engine.backends.prefill import shared_prefix_length
from tubescope.engine.backends.prompting import ChatTemplate, answer_token_ids, tokenize_prompt
from tubescope.engine.backends.qwen2_vl import Qwen2VLBackend
from tubescope.engine.backends.qwen3_vl import Qwen3VLBackend
from tubescope.errors import ModelUnavailableError, QueryError

from tests.engine.backends.helpers import QUESTION, random_frames

CHATML_TAIL = ("<|im_end|>", "Ċ", "<|im_start|>", "assistant", "Ċ")


def test_prompt_text_and_expansion(backend):
    visual = backend.encode(random_frames(4))
    prompt = backend.prompt(QUESTION, visual)
    ids = prompt.input_ids.tolist()
    assert [ids[i] for i in prompt.visual_index] == [backend.placeholder_id] * visual.num_tokens
    assert ids.count(backend.placeholder_id) == visual.num_tokens
    # collapse every run of placeholders to one: the template text comes back
    one = [
        t
        for i, t in enumerate(ids)
        if t != backend.placeholder_id or ids[i - 1] != backend.placeholder_id
    ]
    text = backend.tokenizer.decode(one, skip_special_tokens=False)
    bos = backend.tokenizer.bos_token if isinstance(backend, LlavaNextVideoBackend) else ""
    groups = visual.layout.groups
    assert text == bos + backend.template.text(QUESTION, groups, backend._group_seconds(visual))
    if isinstance(backend, Qwen3VLBackend):
        # one block per temporal patch, its time first, inside the template's vision markers
        per_group = visual.layout.rows * visual.layout.cols
        assert prompt.visual_positions is not None and len(prompt.visual_positions) == groups * per_group
        assert text.startswith("<|im_start|>user\n<|vision_start|><0.2 seconds><|vision_start|><|video_pad|>")
        assert text.endswith(f"<|vision_end|><|vision_end|>{QUESTION}<|im_end|>\n<|im_start|>assistant\n")
        assert text.count("seconds><|vision_start|>") == groups
    elif isinstance(backend, Qwen2VLBackend):
        assert ids[prompt.visual_start - 1] == backend.tokenizer.convert_tokens_to_ids(
            "<|vision_start|>"
        )
        assert ids[prompt.visual_end] == backend.tokenizer.convert_tokens_to_ids("<|vision_end|>")
        assert text.startswith(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        )
    elif isinstance(backend, LlavaOnevisionBackend):
        assert text.endswith(f"<video>\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n")
    elif isinstance(backend, InternVLBackend):
        per_frame = visual.layout.rows * visual.layout.cols
        assert (
            prompt.visual_positions is not None
            and len(prompt.visual_positions) == groups * per_frame
        )
        assert "Frame1: <img><IMG_CONTEXT></img>\nFrame2: <img>" in text
        assert text.endswith(f"</img>\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n")
    else:
        assert isinstance(backend, LlavaNextVideoBackend)
        assert ids[0] == backend.tokenizer.bos_token_id
        assert text.endswith(f"USER: <video>\n{QUESTION} ASSISTANT:")
    if not isinstance(backend, (InternVLBackend, Qwen3VLBackend)):
        assert (
            prompt.visual_positions is None
            and prompt.visual_end == prompt.visual_start + visual.num_tokens
        )


def test_candidate_grounding_tokens(backend):
    visual = backend.encode(random_frames(2))
    prompt = backend.prompt(QUESTION, visual)
    assert list(prompt.candidates) == list(
        range(prompt.length - len(prompt.candidates), prompt.length)
    )
    tokens = backend.tokenizer.convert_ids_to_tokens(
        prompt.input_ids[list(prompt.candidates)].tolist()
    )
    assert tuple(tokens) == prompt.candidate_tokens
    if isinstance(backend, LlavaNextVideoBackend):
        assert "".join(tokens).replace("Ġ", " ").replace("▁", " ") == " ASSISTANT:"
    else:
        assert prompt.candidate_tokens == CHATML_TAIL
        # the official fixed offset -3 is <|im_start|>
        assert prompt.candidate_tokens[-3] == "<|im_start|>"
    out = backend.prefill(visual, [QUESTION])[0]
    assert out.rows == prompt.candidates and out.row_tokens == prompt.candidate_tokens
    fixed = backend.prefill(visual, [QUESTION], rows=[-3])[0]
    assert fixed.rows == (prompt.length - 3,)


def test_yes_no_ids(backend):
    tok = backend.tokenizer
    assert backend.yes_ids[0] == tok.convert_tokens_to_ids("yes")
    assert backend.no_ids[0] == tok.convert_tokens_to_ids("no")
    assert backend.yes_ids[:2] == (
        tok.convert_tokens_to_ids("yes"),
        tok.convert_tokens_to_ids("Yes"),
    )
    assert len(set(backend.yes_ids)) == len(backend.yes_ids) and not set(backend.yes_ids) & set(
        backend.no_ids
    )
    assert tok.decode([backend.yes_ids[-1]]).strip().lower() == "yes"


class _NoYesTokenizer:
    def get_vocab(self):
        return {"maybe": 1}

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [1, 1]}


def test_missing_answer_word_is_a_clear_error():
    with pytest.raises(
        ModelUnavailableError, match=r"my/model: the tokenizer has no single token for 'yes'"
    ):
        answer_token_ids(_NoYesTokenizer(), "yes", "my/model")


def test_tokenize_prompt_errors(backends):
    tok = backends["llava-onevision"].tokenizer
    template = ChatTemplate(
        head="<|im_start|>user\n", placeholder="<video>", middle="\n", tail="<|im_end|>"
    )
    with pytest.raises(QueryError, match="empty"):
        tokenize_prompt(tok, template, " ", 4)
    with pytest.raises(QueryError, match="placeholder"):
        tokenize_prompt(tok, template, "a <video> b", 4)
    bad = ChatTemplate(head="", placeholder="<nothing>", middle="", tail="!")
    with pytest.raises(ValueError, match="no token '<nothing>'"):
        tokenize_prompt(tok, bad, "hi", 4)
    out = tokenize_prompt(tok, template, "  Is there a dog?  ", 3)
    assert out.num_visual == 3 and out.candidate_tokens == ("<|im_end|>",)


def test_shared_prefix_length():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1], [1, 2]]) == 0
    assert shared_prefix_length([]) == 0


def test_fork_cache_shares_prefix_tensors_and_leaves_them_untouched():
    from transformers import DynamicCache
    from tubescope.engine.backends.prefill import fork_cache

    keys = [torch.randn(1, 2, 5, 4) for _ in range(3)]
    values = [torch.randn(1, 2, 5, 4) for _ in range(3)]
    cache = DynamicCache(ddp_cache_data=list(zip(keys, values, strict=True)))
    fork = fork_cache(cache)
    assert fork.get_seq_length() == 5
    assert all(a.keys is b.keys for a, b in zip(fork.layers, cache.layers, strict=True))
    fork.update(torch.ones(1, 2, 2, 4), torch.ones(1, 2, 2, 4), 0)
    assert fork.layers[0].keys.shape[-2] == 7 and cache.layers[0].keys.shape[-2] == 5
    assert torch.equal(fork.layers[0].keys[..., :5, :], cache.layers[0].keys)
