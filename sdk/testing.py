"""Test helpers for users and for tubescope's own tests: tiny offline checkpoints.

:func:`save_tiny_model` writes a random-weight checkpoint of a supported MLLM family to a
directory: the real transformers model class built from a small config, a tiny byte-level BPE
tokenizer with the family's special tokens and chat template, and the preprocessor config JSON.
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

__all__ = ["TINY_FAMILIES", "save_tiny_model", "tiny_tokenizer"]

#: families :func:`save_tiny_model` can write.
TINY_FAMILIES = ("qwen2-vl", "qwen2.5-vl", "llava-onevision", "llava-next-video", "internvl")

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

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

_SPECIALS = {
    "qwen": [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|vision_pad|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ],
    "llava-onevision": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"],
    "llava-next-video": ["<unk>", "<s>", "</s>", "<image>", "<video>"],
    "internvl": [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<img>",
        "</img>",
        "<IMG_CONTEXT>",
        "<video>",
    ],
}

_CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_VICUNA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + ' ' }}"
    "{% elif message['role'] == 'user' %}{{ 'USER: ' + message['content'] + ' ' }}"
    "{% else %}{{ 'ASSISTANT: ' + message['content'] + '</s>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def _special_set(family: str) -> str:
    return "qwen" if family in ("qwen2-vl", "qwen2.5-vl") else family


def tiny_tokenizer(family: str) -> Any:
    """A small byte-level BPE ``PreTrainedTokenizerFast`` with ``family``'s special tokens.

    Every byte is a token (no unknown text), the template words and ``yes``/``no`` are single
    tokens, and the special tokens come last. Deterministic.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if family not in TINY_FAMILIES:
        raise ValueError(f"family {family!r} is not one of {TINY_FAMILIES}")
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
    specials = _SPECIALS[_special_set(family)]
    if family == "llava-next-video":
        named = {
            "unk_token": "<unk>",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "pad_token": "<unk>",
        }
        template = _VICUNA_TEMPLATE
    else:
        named = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
        template = _CHATML_TEMPLATE
    extra = [s for s in specials if s not in named.values()]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, additional_special_tokens=extra, **named
    )
    tokenizer.chat_template = template
    missing = [
        s
        for s in specials
        if tokenizer.convert_tokens_to_ids(s) in (None, tokenizer.unk_token_id) and s != "<unk>"
    ]
    if missing:
        raise RuntimeError(f"tiny tokenizer lost special tokens {missing}")
    return tokenizer


def _ids(tokenizer: Any, *tokens: str) -> list[int]:
    return [int(tokenizer.convert_tokens_to_ids(t)) for t in tokens]


def _text_config(
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    num_kv_heads: int,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
        **extra,
    }


def _build_config(
    family: str,
    tokenizer: Any,
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    num_kv_heads: int,
) -> tuple[Any, str, dict[str, Any]]:
    """(config, model class name, preprocessor config) for a tiny model of ``family``."""
    import transformers

    head_dim = hidden_size // num_heads
    if head_dim * num_heads != hidden_size or head_dim % 2:
        raise ValueError(
            f"hidden_size {hidden_size} must split into {num_heads} heads of an even size"
        )
    if family in ("qwen2-vl", "qwen2.5-vl"):
        half = head_dim // 2
        section = [half - 2 * (half // 3), half // 3, half // 3]  # sums to head_dim / 2
        pad, im_end = _ids(tokenizer, "<|endoftext|>", "<|im_end|>")
        image, video, start, end = _ids(
            tokenizer, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"
        )
        text = _text_config(
            vocab_size,
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": section,
            },
            bos_token_id=pad,
            eos_token_id=im_end,
            pad_token_id=pad,
        )
        common = {
            "patch_size": 14,
            "temporal_patch_size": 2,
            "spatial_merge_size": 2,
            "in_channels": 3,
        }
        if family == "qwen2-vl":
            vision = {
                "depth": 2,
                "embed_dim": 32,
                "hidden_size": hidden_size,
                "num_heads": 2,
                "mlp_ratio": 2,
                **common,
            }
            config = transformers.Qwen2VLConfig(
                text_config=text,
                vision_config=vision,
                image_token_id=image,
                video_token_id=video,
                vision_start_token_id=start,
                vision_end_token_id=end,
                tie_word_embeddings=False,
            )
            cls = "Qwen2VLForConditionalGeneration"
        else:
            vision = {
                "depth": 2,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_heads": 2,
                "out_hidden_size": hidden_size,
                "fullatt_block_indexes": [1],
                "window_size": 112,
                "tokens_per_second": 2,
                **common,
            }
            config = transformers.Qwen2_5_VLConfig(
                text_config=text,
                vision_config=vision,
                image_token_id=image,
                video_token_id=video,
                vision_start_token_id=start,
                vision_end_token_id=end,
                tie_word_embeddings=False,
            )
            cls = "Qwen2_5_VLForConditionalGeneration"
        pre = {
            "image_processor_type": "Qwen2VLImageProcessor",
            "do_resize": True,
            "resample": 3,
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
            "min_pixels": 28 * 28 * 4,
            "max_pixels": 28 * 28 * 64,
            "patch_size": 14,
            "temporal_patch_size": 2,
            "merge_size": 2,
        }
        return config, cls, pre
    if family == "llava-onevision":
        pad, im_end = _ids(tokenizer, "<|endoftext|>", "<|im_end|>")
        image, video = _ids(tokenizer, "<image>", "<video>")
        text = _text_config(
            vocab_size,
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads,
            model_type="qwen2",
            bos_token_id=pad,
            eos_token_id=im_end,
            pad_token_id=pad,
        )
        vision = {
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 112,
            "patch_size": 14,
        }
        config = transformers.LlavaOnevisionConfig(
            text_config=text,
            vision_config=vision,
            image_token_index=image,
            video_token_index=video,
            vision_feature_layer=-1,
            vision_feature_select_strategy="full",
            image_grid_pinpoints=[[112, 112]],
            tie_word_embeddings=False,
        )
        pre = {
            "image_processor_type": "LlavaOnevisionImageProcessor",
            "do_resize": True,
            "size": {"height": 112, "width": 112},
            "resample": 3,
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
            "do_convert_rgb": True,
        }
        return config, "LlavaOnevisionForConditionalGeneration", pre
    if family == "llava-next-video":
        unk, bos, eos = _ids(tokenizer, "<unk>", "<s>", "</s>")
        image, video = _ids(tokenizer, "<image>", "<video>")
        text = _text_config(
            vocab_size,
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads,
            model_type="llama",
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=unk,
        )
        vision = {
            "model_type": "clip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 112,
            "patch_size": 14,
            "projection_dim": 32,
        }
        config = transformers.LlavaNextVideoConfig(
            text_config=text,
            vision_config=vision,
            image_token_index=image,
            video_token_index=video,
            vision_feature_layer=-2,
            vision_feature_select_strategy="default",
            spatial_pool_mode="average",
            spatial_pool_stride=2,
            image_grid_pinpoints=[[112, 112]],
            tie_word_embeddings=False,
        )
        pre = {
            "image_processor_type": "LlavaNextImageProcessor",
            "do_resize": True,
            "size": {"shortest_edge": 112},
            "do_center_crop": True,
            "crop_size": {"height": 112, "width": 112},
            "resample": 3,
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
        }
        return config, "LlavaNextVideoForConditionalGeneration", pre
    if family == "internvl":
        pad, im_end = _ids(tokenizer, "<|endoftext|>", "<|im_end|>")
        (context,) = _ids(tokenizer, "<IMG_CONTEXT>")
        text = _text_config(
            vocab_size,
            hidden_size,
            num_layers,
            num_heads,
            num_kv_heads,
            model_type="qwen2",
            bos_token_id=pad,
            eos_token_id=im_end,
            pad_token_id=pad,
        )
        vision = {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": [112, 112],
            "patch_size": [14, 14],
        }
        config = transformers.InternVLConfig(
            text_config=text,
            vision_config=vision,
            image_token_id=context,
            downsample_ratio=0.5,
            vision_feature_layer=-1,
            vision_feature_select_strategy="default",
            tie_word_embeddings=False,
        )
        pre = {
            "image_processor_type": "GotOcr2ImageProcessor",
            "do_resize": True,
            "size": {"height": 112, "width": 112},
            "resample": 3,
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225],
        }
        return config, "InternVLForConditionalGeneration", pre
    raise ValueError(f"family {family!r} is not one of {TINY_FAMILIES}")


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
    import transformers

    if family not in TINY_FAMILIES:
        raise ValueError(f"family {family!r} is not one of {TINY_FAMILIES}")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer(family)
    vocab_size = 1024
    if len(tokenizer) > vocab_size:
        raise RuntimeError(
            f"tiny tokenizer has {len(tokenizer)} tokens, more than the model's {vocab_size}"
        )
    config, class_name, pre = _build_config(
        family, tokenizer, vocab_size, hidden_size, num_layers, num_heads, num_kv_heads
    )
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = getattr(transformers, class_name)._from_config(
            config, attn_implementation="sdpa", dtype=torch.float32
        )
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    with open(path / "preprocessor_config.json", "w", encoding="utf-8") as handle:
        json.dump(pre, handle, indent=2)
    if family in ("qwen2-vl", "qwen2.5-vl"):
        video = dict(pre, video_processor_type="Qwen2VLVideoProcessor")
        video.pop("image_processor_type")
        with open(path / "video_preprocessor_config.json", "w", encoding="utf-8") as handle:
            json.dump(video, handle, indent=2)
    return path
