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
With ``like=FOLDER`` (a real checkpoint's files without its weights, e.g. a Hugging Face
snapshot of the tokenizer and configs) the checkpoint is built like that one: its tokenizer,
chat template, token ids, preprocessing and vision geometry are the real ones
(:mod:`tubescope.engine.backends.realfiles`).

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tubescope.engine.backends.families import (
    FamilyError,
    TinySpec,
    adapter_class,
    tiny_families,
    tiny_recipe,
)
from tubescope.engine.backends.realfiles import TOKENIZER_FILES, RealFiles
from tubescope.errors import ModelUnavailableError

__all__ = ["TINY_FAMILIES", "save_tiny_model", "tiny_tokenizer", "real_tokenizer", "RealFiles"]

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


def real_tokenizer(real: RealFiles) -> Any:
    """The tokenizer of real checkpoint files (:class:`RealFiles`), as transformers builds it
    (from ``tokenizer.json``, or ``vocab.json`` + ``merges.txt``, or ``tokenizer.model``), with
    the real chat template.

    Raises:
        ModelUnavailableError: no tokenizer can be built from the files, or an added token of
            ``tokenizer_config.json`` did not get its id.
    """
    import tempfile

    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        written = real.write(TOKENIZER_FILES, tmp)
        try:
            tokenizer = AutoTokenizer.from_pretrained(tmp, local_files_only=True)
        except (OSError, ValueError, ImportError) as err:
            raise ModelUnavailableError(
                f"{real!r}: no tokenizer from {written}: {str(err).splitlines()[0]}"
            ) from err
    template = real.chat_template()
    if template is not None:
        tokenizer.chat_template = template
    config = real.json("tokenizer_config.json") or {}
    for token_id, token in (config.get("added_tokens_decoder") or {}).items():
        got = tokenizer.convert_tokens_to_ids(token["content"])
        if got != int(token_id):
            raise ModelUnavailableError(
                f"{real!r}: added token {token['content']!r} got id {got}, not {token_id}"
            )
    return tokenizer


def _text_vocab_size(config: dict[str, Any]) -> int:
    text = config.get("text_config") or {}
    size = text.get("vocab_size", config.get("vocab_size"))
    if size is None:
        raise ModelUnavailableError("like: config.json has no vocab_size")
    return int(size)


def save_tiny_model(
    family: str,
    directory: str | os.PathLike[str],
    *,
    like: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | RealFiles | None = None,
    seed: int = 0,
    num_layers: int = 2,
    hidden_size: int = 64,
    num_heads: int = 4,
    num_kv_heads: int = 2,
) -> Path:
    """Write a tiny random-weight checkpoint of ``family`` to ``directory`` and return its path.

    The vision tower takes 112 x 112 frames in 14-pixel patches (Qwen: any multiple of 28 up
    to 224 x 224 pixels), so 4 frames at 112 x 112 give a ``(2, 4, 4)`` Qwen token grid and a
    ``(4, 4, 4)`` LLaVA / InternVL grid (plus one newline token for LLaVA-OneVision); Qwen3-VL
    has its real 16-pixel patches (32 px token cells: 4 frames of 128 x 128 give ``(2, 4, 4)``). The language model has
    ``num_layers`` layers of ``hidden_size`` with ``num_heads`` query and ``num_kv_heads`` key
    heads (grouped-query attention), vocabulary 1024. The same ``seed`` writes the same weights.

    With ``like``, the checkpoint is built like a real one: ``like`` is a folder of its files
    (a Hugging Face snapshot without the weights; ``.xz``-compressed files are read too) or a
    list of folders searched in order. The tokenizer, chat template, special-token ids,
    vocabulary size, preprocessor configs, generation config and vision geometry (patch,
    merge and temporal patch sizes, attention windows, full-attention blocks, M-RoPE sections
    scaled to the tiny head size) are the real ones; only the widths and depths are small and
    the weights random. What the folders lack is taken from the family's documented values
    (``TinyRecipe.documented``).

    Args:
        family: one of :data:`TINY_FAMILIES`.
        directory: created if missing; existing checkpoint files are overwritten.
        like: real checkpoint files to build the checkpoint like (see above).

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
    real = None
    if like is None:
        tokenizer = tiny_tokenizer(family)
        vocab_size = 1024
    else:
        if recipe.like is None:
            raise FamilyError(f"family {family!r} cannot be built like real files (its recipe has no 'like')")
        real = RealFiles.of(like, recipe.documented)
        real_config = real.require_json("config.json")
        if real_config.get("model_type") not in cls.model_types:
            raise FamilyError(
                f"like: config.json of {real!r} is a {real_config.get('model_type')!r} checkpoint, "
                f"not one of family {family!r} ({', '.join(cls.model_types)})"
            )
        tokenizer = real_tokenizer(real)
        vocab_size = _text_vocab_size(real_config)
    if len(tokenizer) > vocab_size:
        raise RuntimeError(
            f"tiny tokenizer has {len(tokenizer)} tokens, more than the model's {vocab_size}"
        )
    spec = TinySpec(
        tokenizer, vocab_size, hidden_size, num_layers, num_heads, num_kv_heads, real=real
    )
    make = recipe.files if real is None else recipe.like
    files = {name: dict(content) for name, content in make(spec).items()}
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
    if real is not None:  # the real generation and processor files, as the checkpoint has them
        real.write(("generation_config.json", "chat_template.json"), path)
    for name, content in files.items():
        with open(path / name, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)
    return path
