"""The Grounder end to end on tiny random-weight checkpoints of every real model family."""

from __future__ import annotations

import json

import numpy as np

import pytest
import torch

from tubescope import Grounder, GrounderConfig
from tubescope.engine.backends import load_backend
from tubescope.engine.lra import learn_visual_prompt, yes_no_margin
from tubescope.synthetic import make_clip
from tubescope.testing import TINY_FAMILIES, save_tiny_model

CONFIG = GrounderConfig(num_frames=4, lra_steps=1, tas=True, temporal_k=2)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("fam") / "clip.mp4", num_frames=24, fps=12, seed=9)


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def model_dir(request, tmp_path_factory):
    return save_tiny_model(request.param, tmp_path_factory.mktemp(request.param))


def _decisions(result) -> str:
    data = result.to_dict()
    data["stats"] = {k: v for k, v in data["stats"].items() if "seconds" not in k}
    return json.dumps(data, sort_keys=True)


def test_grounds_a_synthetic_clip_deterministically_with_one_encode(model_dir, clip):
    grounder = Grounder(model_dir, proposals=[o.track for o in clip.objects], decomposer="rules",
                        config=CONFIG, device="cpu")
    queries = [clip.objects[0].description, clip.objects[1].description]
    first = grounder.ground_many(clip.path, queries)
    again = grounder.ground_many(clip.path, queries)
    assert [_decisions(r) for r in first] == [_decisions(r) for r in again]
    for result in first:
        assert result.stats["vision_encodes"] == 1  # one encode for TAS and both sub-queries
        assert result.stats["backward_passes"] == 3  # spatial, reversed spatial, temporal prompts
        assert result.tube is not None and result.track_id in {o.track_id for o in clip.objects}
        assert result.grounding_token
        assert len(result.frame_scores) == 4
    assert grounder.backend.counters["vision_encodes"] == 2  # one per ground_many call


@pytest.mark.parametrize("loss", ["paper", "code"])
def test_an_lra_step_raises_the_margin_and_leaves_the_model_unchanged(model_dir, clip, loss):
    """One small plain gradient step raises what each loss maximises: the sub-query's yes-no
    margin (paper loss) or its lead over the caption's (the code's loss)."""
    backend = load_backend(model_dir, device="cpu")
    before = {name: p.detach().clone() for name, p in backend.model.named_parameters()}
    visual = backend.encode(clip.to_array()[:4])
    question, caption = "Is there the red circle in this video?", "please describe this video"

    def objective(prompt):
        outputs = backend.prefill(visual, [question, caption], visual_prompt=prompt, rows=[-1])
        sub, cap = (float(yes_no_margin(o.logits, backend.yes_ids, backend.no_ids)) for o in outputs)
        return sub if loss == "paper" else sub - cap

    result = learn_visual_prompt(backend, visual, question, caption, steps=1, lr=0.05, beta=1.0, loss=loss)
    with torch.no_grad():
        assert objective(result.prompt) > objective(None)
    for name, param in backend.model.named_parameters():
        assert torch.equal(param, before[name]), name
        assert param.grad is None


def test_qwen25_vl_gets_the_true_seconds_per_temporal_patch(tmp_path):
    """Item 9: ``Engine.encode`` passes the sampled frames' times; before, Qwen2.5-VL assumed
    2 fps (1.0 s per 2-frame patch) whatever the video."""
    clip = make_clip(tmp_path / "c.mp4", num_frames=40, fps=10, seed=2)
    grounder = Grounder(save_tiny_model("qwen2.5-vl", tmp_path / "q25"), proposals=[o.track for o in clip.objects],
                        decomposer="rules", config=GrounderConfig(num_frames=4, lra_steps=0, tas=False), device="cpu")
    seen = []
    encode = grounder.backend.encode

    def spy(frames, frame_indices=None, *, timestamps=None):
        seen.append(encode(frames, frame_indices, timestamps=timestamps))
        return seen[-1]

    grounder.backend.encode = spy
    result = grounder.ground(clip.path, clip.objects[0].description)
    step = float(np.median(np.diff(np.asarray(clip.timestamps)[result.sampled_frames])))
    assert seen[0].extra["second_per_grid_ts"] == pytest.approx(2 * step)  # 2 frames per temporal patch
    assert abs(2 * step - 1.0) > 0.5
