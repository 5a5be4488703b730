"""Test helpers for users and for tubescope's own tests: tiny offline checkpoints.

:func:`save_tiny_model` writes a random-weight checkpoint of a supported MLLM family to a
directory: the real transformers model class built from a small config, a tiny byte-level BPE
tokenizer with the family's special tokens and chat template, and the preprocessor config JSON.
What each family writes is its adapter's ``tiny`` recipe
(:class:`~tubescope.engine.backends.families.TinyRecipe`), read from the family registry;
:data:`TINY_FAMILIES` lists the families that have one.
``load_backend(directory)`` loads it through the same path as a real checkpoint, so an
integration can be tested end to end without downloading weights (the answers are random, of
course; the shapes, token layout, prompts, attention capture and gradients are real).

Example:
    >>> import tempfile
    >>> from tubescope.testing import save_tiny_model
    >>> path = save_tiny_model("qwen2-vl", tempfile.mkdtemp())
    >>> sorted(p.name for p in path.glob("*.json"))[:3]
    ['config.json', 'generation_config.json', 'preprocessor_config.json']
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tubescope.engine.backends.families import TinySpec, adapter_class, tiny_families, tiny_recipe

__all__ = ["TINY_FAMILIES", "save_tiny_model", "tiny_tokenizer"]

#: the families :func:`save_tiny_model` can write: the registered families with a tiny recipe
#: (:func:`~tubescope.engine.backends.families.tiny_families`), read each time it is asked for,
#: so a family registered later is listed from then on. Reading it imports the adapter modules.
TINY_FAMILIES: tuple[str, ...]  # provided by __getattr__


def __getattr__(name: str) -> Any:
    if name == "TINY_FAMILIES":
        return tiny_families()
    raise AttributeError(f"module 'tubescope.testing' has no attribute {name!r}")


# Words that get their own BPE token (byte-level: "Ġ" is a leading space, "Ċ" a newline), so
# the templates tokenize into realistic pieces and "yes"/"no" are single tokens.
_WORDS = [
    "yes",
    "no",
    "Yes",
    "No",
    "Ġyes",
    "Ġno",
    "ĠYes",
    "ĠNo",
    "system",
    "user",
    "assistant",
    "You",
    "Ġare",
    "Ġa",
    "Ġhelpful",
    "Ġassistant",
    "ĊĊ",
    "Is",
    "ĠIs",
    "Ġthere",
    "Ġin",
    "Ġthis",
    "Ġvideo",
    "Ġthe",
    "Ġman",
    "Ġwoman",
    "Ġperson",
    "please",
    "Ġplease",
    "Ġdescribe",
    "Describe",
    "Ġdetails",
    "Ġred",
    "Ġblue",
    "Ġgreen",
    "Ġcar",
    "Ġdog",
    "Ġball",
    "Ġcircle",
    "Ġsquare",
    "Ġmoving",
    "Ġleft",
    "Ġright",
    "Ġwho",
    "Ġsits",
    "Ġdown",
    "A",
    "Ġchat",
    "Ġbetween",
    "Ġcurious",
    "Ġand",
    "Ġan",
    "Ġartificial",
    "Ġintelligence",
    "ĠThe",
    "Ġgives",
    "Ġdetailed",
    "Ġpolite",
    "Ġanswers",
    "Ġto",
    "'s",
    "Ġquestions",
    "ĠUSER",
    "ĠASSISTANT",
    "USER",
    "ASSISTANT",
    "Frame",
]


def tiny_tokenizer(family: str) -> Any:
    """A small byte-level BPE ``PreTrainedTokenizerFast`` with ``family``'s special tokens.

    Every byte is a token (no unknown text), the template words and ``yes``/``no`` are single
    tokens, and the special tokens come last. Deterministic.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    recipe = tiny_recipe(family)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    merges: list[tuple[str, str]] = []
    for word in _WORDS:
        current = word[0]
        for ch in word[1:]:
            merged = current + ch
            if merged not in vocab:
                vocab[merged] = len(vocab)
                merges.append((current, ch))
            current = merged
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = recipe.specials
    named = dict(recipe.named_tokens)
    extra = [s for s in specials if s not in named.values()]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, additional_special_tokens=extra, **named
    )
    tokenizer.chat_template = recipe.chat_template
    missing = [
        s
        for s in specials
        if tokenizer.convert_tokens_to_ids(s) in (None, tokenizer.unk_token_id) and s != "<unk>"
    ]
    if missing:
        raise RuntimeError(f"tiny tokenizer lost special tokens {missing}")
    return tokenizer


def save_tiny_model(
    family: str,
    directory: str | os.PathLike[str],
    *,
    seed: int = 0,
    num_layers: int = 2,
    hidden_size: int = 64,
    num_heads: int = 4,
    num_kv_heads: int = 2,
) -> Path:
    """Write a tiny random-weight checkpoint of ``family`` to ``directory`` and return its path.

    The vision tower takes 112 x 112 frames in 14-pixel patches (Qwen: any multiple of 28 up
    to 224 x 224 pixels), so 4 frames at 112 x 112 give a ``(2, 4, 4)`` Qwen token grid and a
    ``(4, 4, 4)`` LLaVA / InternVL grid (plus one newline token for LLaVA-OneVision). The language model has
    ``num_layers`` layers of ``hidden_size`` with ``num_heads`` query and ``num_kv_heads`` key
    heads (grouped-query attention), vocabulary 1024. The same ``seed`` writes the same weights.

    Args:
        family: one of :data:`TINY_FAMILIES`.
        directory: created if missing; existing checkpoint files are overwritten.

    Example:
        >>> import tempfile
        >>> from tubescope.engine.backends import load_backend
        >>> backend = load_backend(save_tiny_model("llava-onevision", tempfile.mkdtemp()))
        >>> backend.family, backend.num_layers
        ('llava-onevision', 2)
    """
    import torch

    recipe = tiny_recipe(family)
    cls = adapter_class(family)
    tokenizer = tiny_tokenizer(family)
    vocab_size = 1024
    if len(tokenizer) > vocab_size:
        raise RuntimeError(
            f"tiny tokenizer has {len(tokenizer)} tokens, more than the model's {vocab_size}"
        )
    spec = TinySpec(tokenizer, vocab_size, hidden_size, num_layers, num_heads, num_kv_heads)
    files = {name: dict(content) for name, content in recipe.files(spec).items()}
    if "config.json" not in files:
        raise RuntimeError(f"{family}: the tiny recipe writes no config.json (files: {sorted(files)})")
    model_class = cls.transformers_class()
    config = model_class.config_class(**files.pop("config.json"))
    if config.model_type not in cls.model_types:
        raise RuntimeError(
            f"{family}: the tiny recipe makes a {config.model_type!r} config, "
            f"which the family does not load (model_types {cls.model_types})"
        )
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = model_class._from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    for name, content in files.items():
        with open(path / name, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)
    return path
