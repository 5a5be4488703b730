"""scripts/train_tiny_grounder.py: seeded balanced data asking the engine's own questions,
inputs built exactly as the backend builds them, a training step that learns, a loadable
checkpoint."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.script_module import load_script

from tubescope.decompose.rules import RuleDecomposer
from tubescope.engine.backends import load_backend
from tubescope.engine.config import preset

T = load_script("scripts/train_tiny_grounder.py", "train_tiny_grounder")
TINY = dict(layers=1, hidden=32, heads=2, kv_heads=1, vision_depth=1, vision_dim=16, vision_heads=1)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return T.build_model(tmp_path_factory.mktemp("tiny") / "init", T.TrainConfig(**TINY))


def test_samples_are_deterministic_and_differ_by_index() -> None:
    a, b, c = T.make_sample(3, 7), T.make_sample(3, 7), T.make_sample(3, 8)
    assert np.array_equal(a.frames, b.frames) and a.question == b.question and a.answer == b.answer
    assert (a.question, a.frames.shape) != (c.question, c.frames.shape) or not np.array_equal(a.frames, c.frames)


def test_answers_are_balanced_over_kinds() -> None:
    samples = [T.make_sample(0, i) for i in range(160)]
    yes = np.mean([s.answer for s in samples])
    assert 0.4 <= yes <= 0.6
    kinds = Counter(s.kind for s in samples)
    assert set(kinds) == {"shape", "kind", "description", "action"}
    assert all(s.frames.shape[0] == 8 and s.frames.dtype == np.uint8 for s in samples)


def test_answers_match_what_the_sampled_frames_show() -> None:
    for i in range(60):
        s = T.make_sample(1, i, kinds_weights=(0, 1, 0, 0))
        colour, kind = s.query.split()[1:3]
        height, width = s.frames.shape[1:3]
        shown = [sp for sp in s.shapes if T._visible(sp, s.indices, width, height)]
        assert s.answer == any(sp.color == colour and sp.kind == kind for sp in shown)


def test_questions_are_the_engines_own() -> None:
    template = preset("default").question_template
    rules = RuleDecomposer()
    for i in range(40):
        s = T.make_sample(2, i)
        parts = rules.decompose(s.query)
        part = parts.action if s.kind == "action" else (parts.attribute or s.query)
        assert s.question == template.format(part.strip(".").strip())
    hard = [T.make_sample(0, i, kinds_weights=(0, 1, 0, 0), positive=False) for i in range(30)]
    # hard negatives: a colour that is in the clip, asked with the wrong kind
    assert any(s.query.split()[1] in {sp.color for sp in s.shapes} for s in hard)


def test_inputs_are_the_backends_prompt_and_logits(tiny_dir: Path) -> None:
    helper = load_backend(tiny_dir, device="cpu")
    batcher = T.Batcher(helper, torch.device("cpu"))
    model = _model(tiny_dir)
    samples = [T.make_sample(0, i) for i in range(3)]
    with torch.no_grad():
        logits = T.forward(model, batcher.collate([batcher.encode_sample(s) for s in samples]))
    for s, row in zip(samples, logits, strict=True):
        visual = helper.encode(s.frames, s.indices)
        assert torch.equal(batcher.encode_sample(s)["ids"], helper.prompt(s.question, visual).input_ids)
        (out,) = helper.prefill(visual, [s.question])
        torch.testing.assert_close(row, out.logits, atol=1e-5, rtol=1e-4)


def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(tiny_dir: Path) -> None:
    torch.manual_seed(0)
    batcher = T.Batcher(load_backend(tiny_dir, device="cpu"), torch.device("cpu"))
    model = _model(tiny_dir)
    model.train()
    batch = batcher.collate([batcher.encode_sample(T.make_sample(5, i)) for i in range(4)])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(T.forward(model, batch), batch["targets"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.5


def test_train_writes_a_loadable_checkpoint_and_a_log(tmp_path: Path) -> None:
    cfg = T.TrainConfig(**TINY, steps=2, batch=2, warmup=1, curriculum=1, eval_every=0, eval_clips=1,
                        eval_yes_no=4, out=str(tmp_path / "run"))
    result = T.train(cfg, log=lambda *_: None)
    row = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    assert row["step"] == 2 and 0.0 <= row["yes_no"] <= 1.0 and row["track_queries"] >= 2
    assert result["final"]["track_acc"] == row["track_acc"]
    backend = load_backend(tmp_path / "run" / "checkpoint", device="cpu")
    assert backend.family == "qwen2-vl" and backend.num_layers == 1


def _model(directory: Path):
    from transformers import Qwen2VLForConditionalGeneration

    return Qwen2VLForConditionalGeneration.from_pretrained(directory, attn_implementation="sdpa",
                                                           dtype=torch.float32)
