"""Helpers shared by the backend tests (reference forwards, frame makers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tubescope.engine.backends.capture import install

QUESTION = "Is there a red car in this video?"
CAPTION = "please describe this video"


def random_frames(num: int = 4, height: int = 112, width: int = 112, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num, height, width, 3), dtype=np.uint8)


def full_inputs(
    backend: Any, visual: Any, question: str, visual_prompt: torch.Tensor | None = None
):
    """``(inputs_embeds, position_ids, prompt, layer_inputs)`` of one whole prompt, built
    independently of prefill (``layer_inputs``: the DeepStack features of the whole prompt, for
    the families that have them)."""
    prompt = backend.prompt(question, visual)
    ids = prompt.input_ids.to(backend.device)
    embeds = backend.model.get_input_embeddings()(ids[None]).clone()
    vis = visual.embeds if visual_prompt is None else visual.embeds + visual_prompt
    embeds[0, list(prompt.visual_index)] = vis
    layer_inputs = backend._language_model_inputs(visual, prompt.visual_index, 0, prompt.length)
    return embeds, backend._position_ids(ids, visual), prompt, layer_inputs


def eager_attentions(
    backend: Any, visual: Any, question: str, visual_prompt: torch.Tensor | None = None
):
    """Reference: eager ``output_attentions=True`` over the whole prompt (no cache)."""
    embeds, positions, prompt, layer_inputs = full_inputs(backend, visual, question, visual_prompt)
    backend.model.set_attn_implementation({"text_config": "eager"})
    try:
        with torch.no_grad():
            out = backend.language_model(
                inputs_embeds=embeds, position_ids=positions, output_attentions=True, **layer_inputs
            )
    finally:
        install(backend.model)
    assert len(out.attentions) == backend.num_layers
    return out.attentions, prompt


def isolate_vision_tokens(model: Any) -> int:
    """Zero the vision tower's attention output projections: no token mixes with another.

    Returns how many attention blocks were silenced (the caller checks it is the tower depth).
    """
    tower = getattr(model.model, "visual", None) or model.model.vision_tower
    count = 0
    for name, module in tower.named_modules():
        suffixes = ("attn.proj", "self_attn.out_proj", "attention.projection_layer")
        if name.endswith(suffixes) and isinstance(module, torch.nn.Linear):
            with torch.no_grad():
                module.weight.zero_()
                if module.bias is not None:
                    module.bias.zero_()
            count += 1
    return count


def load_cpu(path: Any, **options: Any) -> Any:
    """``load_backend`` pinned to CPU float32 (the tolerances of these tests assume it)."""
    from tubescope.engine.backends import load_backend

    options.setdefault("dtype", "float32")
    return load_backend(path, device="cpu", **options)
