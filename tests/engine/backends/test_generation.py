"""Text generation on every backend: greedy, bounded, deterministic; the MLLM decomposer runs on
every family (on a random model it falls back cleanly and records what was generated), from
Python and from ``tubescope ground --decomposer mllm``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from tubescope import Grounder, GrounderConfig, GroundingResult
from tubescope.decompose import MLLMDecomposer, TextGenerator
from tubescope.engine.backends.generation import greedy_generate, stop_ids
from tubescope.synthetic import make_clip

CONFIG = GrounderConfig(num_frames=4, lra_steps=0, tas=False)


def test_every_backend_generates_greedily_within_the_bound(backend):
    assert isinstance(backend, TextGenerator)
    prompt = "Split the sentence: The man in red sits down."
    first = backend.generate_text(prompt, max_new_tokens=5)
    assert isinstance(first, str)
    assert backend.counters["generated_tokens"] <= 5
    assert backend.generate_text(prompt, max_new_tokens=5) == first  # greedy: no sampling
    # each step takes the highest logit of a plain forward over everything so far
    ids = list(backend.tokenizer(backend.template.text_only(prompt), add_special_tokens=False)["input_ids"])
    if backend.template.add_bos:
        ids = [backend.tokenizer.bos_token_id, *ids]
    new = greedy_generate(backend, ids, 3)
    with torch.no_grad():
        for k, token in enumerate(new):
            seq = torch.tensor([ids + new[:k]])
            out = backend.language_model(
                inputs_embeds=backend.model.get_input_embeddings()(seq),
                position_ids=backend._text_position_ids(0, seq.shape[-1]),
            )
            logits = backend.model.lm_head(out.last_hidden_state[:, -1])[0]
            assert int(torch.argmax(logits)) == token


class _Always(torch.nn.Module):
    """An output head whose highest logit is always ``token``."""

    def __init__(self, token: int, vocab: int) -> None:
        super().__init__()
        self.token, self.vocab = token, vocab

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*hidden.shape[:-1], self.vocab)
        logits[..., self.token] = 1.0
        return logits


def test_generation_stops_at_end_of_sequence_or_at_the_bound(backends):
    backend = backends["qwen2-vl"]
    eos = backend.tokenizer.eos_token_id
    assert eos in stop_ids(backend.model, backend.tokenizer)
    head, vocab = backend.model.lm_head, backend.model.lm_head.out_features
    try:
        backend.model.lm_head = _Always(eos, vocab)
        assert greedy_generate(backend, [1, 2, 3], 10) == [eos]
        backend.model.lm_head = _Always(7, vocab)
        assert greedy_generate(backend, [1, 2, 3], 4) == [7, 7, 7, 7]
    finally:
        backend.model.lm_head = head
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy_generate(backend, [1], 0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("gen") / "clip.mp4", num_frames=16, fps=8, seed=11)


def test_mllm_decomposition_on_every_family_falls_back_cleanly(tiny_dirs, family, clip):
    grounder = Grounder(tiny_dirs[family], proposals=[o.track for o in clip.objects],
                        decomposer="mllm", config=CONFIG, device="cpu")
    assert isinstance(grounder.decomposer, MLLMDecomposer)
    query = clip.objects[0].description
    result = grounder.ground(clip.path, query)
    parts = result.sub_queries
    assert parts.source == "mllm" and isinstance(parts.raw, str)
    assert grounder.backend.counters["generated_tokens"] >= 1
    if parts.fell_back:  # random weights: gibberish, so the full query is used for both parts
        assert parts.attribute == parts.action == query
    assert result.tube is not None
    restored = GroundingResult.from_json(result.to_json())
    assert restored.sub_queries == parts and restored.sub_queries.raw == parts.raw


def test_the_default_decomposer_of_a_loaded_model_is_the_model(tiny_dirs):
    grounder = Grounder(tiny_dirs["llava-onevision"], proposals=[], config=CONFIG, device="cpu")
    assert isinstance(grounder.decomposer, MLLMDecomposer)


def test_a_bad_decomposition_file_fails_before_the_model_loads(tmp_path):
    from tubescope.errors import TubescopeError

    with pytest.raises(TubescopeError, match="missing.json"):
        Grounder(tmp_path / "no-model-here", decomposer=str(tmp_path / "missing.json"))


def test_cli_ground_with_the_mllm_decomposer_on_a_real_file_checkpoint(real_dirs, clip, tmp_path):
    out = tmp_path / "r.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tubescope.cli.main", "ground", str(clip.path), clip.objects[0].description,
         "--model", str(real_dirs["qwen2.5-vl"]), "--decomposer", "mllm", "--frames", "4",
         "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    parts = json.loads(out.read_text())["sub_queries"]
    assert parts["source"] == "mllm" and isinstance(parts["raw"], str)
    assert isinstance(parts["fell_back"], bool)
    if parts["fell_back"]:
        assert parts["attribute"] == parts["action"] == clip.objects[0].description
