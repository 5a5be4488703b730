"""Greedy text generation with a backend's language model (no video, no sampling).

The grounding engine never generates; the MLLM query decomposer does
(:class:`tubescope.decompose.MLLMDecomposer`, README "The method in brief"). Every
:class:`~tubescope.engine.backends.adapter.TransformersBackend` implements
:class:`tubescope.decompose.TextGenerator` through :func:`greedy_generate`:

* the prompt is one text-only user turn of the family's chat template
  (:meth:`~tubescope.engine.backends.prompting.ChatTemplate.text_only`, token for token what the
  checkpoint's own template renders for that turn with ``add_generation_prompt=True``);
* one prefill forward of the prompt, then one forward per new token against the KV cache,
  each time taking the highest logit (greedy: no sampling, no temperature, no repetition
  penalty, whatever the checkpoint's ``generation_config.json`` says);
* it stops at an end-of-sequence id (the generation config's and the tokenizer's) or after
  ``max_new_tokens``; the text is decoded without special tokens.

Example:
    >>> import tempfile
    >>> from tubescope.engine.backends import load_backend
    >>> from tubescope.testing import save_tiny_model
    >>> backend = load_backend(save_tiny_model("qwen2-vl", tempfile.mkdtemp()), device="cpu")
    >>> text = backend.generate_text("Split: the man in red sits down.", max_new_tokens=4)
    >>> isinstance(text, str), text == backend.generate_text("Split: the man in red sits down.", 4)
    (True, True)
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["greedy_generate", "stop_ids"]


def stop_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """The end-of-sequence ids: the model's generation config's and the tokenizer's."""
    found: set[int] = set()
    config = getattr(model, "generation_config", None)
    for value in (getattr(config, "eos_token_id", None), tokenizer.eos_token_id):
        if value is None:
            continue
        found.update(int(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    return frozenset(found)


def greedy_generate(backend: Any, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    """Greedy continuation of ``prompt_ids`` with ``backend``'s language model: the new ids,
    ending with the end-of-sequence id when one was produced."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if not prompt_ids:
        raise ValueError("the prompt has no tokens")
    stops = stop_ids(backend.model, backend.tokenizer)
    embed = backend.model.get_input_embeddings()
    ids = torch.tensor([prompt_ids], dtype=torch.long, device=backend.device)
    new: list[int] = []
    cache = None
    start = 0
    with torch.no_grad():
        for _ in range(max_new_tokens):
            positions = backend._text_position_ids(start, ids.shape[-1])
            out = backend.language_model(
                inputs_embeds=embed(ids),
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
            )
            cache = out.past_key_values
            start += ids.shape[-1]
            logits = backend.model.lm_head(out.last_hidden_state[:, -1])[0]
            token = int(torch.argmax(logits))
            new.append(token)
            if token in stops:
                break
            ids = torch.tensor([[token]], dtype=torch.long, device=backend.device)
    return new
