"""InternVL (InternVL2.5 / InternVL3 in transformers' ``internvl`` format) adapter.

Prompt (the official ``internvl2_5`` conversation, ChatML; each frame is one 448 px tile with its
own label, as InternVL's video chat and transformers' processor write it)::

    <|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n
    Frame1: <img><IMG_CONTEXT> x 256</img>\\nFrame2: <img>...</img>\\n{question}<|im_end|>\\n
    <|im_start|>assistant\\n

The visual tokens are not one contiguous span: :attr:`Prompt.visual_positions` lists them. The
candidate grounding tokens are ``<|im_end|>``, ``\\n``, ``<|im_start|>``, ``assistant``, ``\\n``
(official fixed offset ``-3`` = ``<|im_start|>``).

Visual tokens: each frame squashed to the vision tower's size (448 x 448), normalised with the
checkpoint's mean/std (ImageNet by default), vision features without the CLS token, pixel
shuffle by ``downsample_ratio`` (0.5: 32 x 32 patches -> 16 x 16 tokens), projector;
``(F, g, g)`` row-major tokens, one group per frame, no newline tokens. This is exactly
``model.model.get_image_features``.

Options:
    system (str | None): the system turn; default InternVL's official system message, ``None``
        for no system turn.
    frame_fit ("squash" | "crop" | "pad", "squash"): how a frame becomes the tower's square
        (``tubescope.engine.backends.llava``); one 448 px tile per frame, squashed, by default.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from tubescope.engine.backends.base import TokenLayout, VisualTokens
from tubescope.engine.backends.families import PaperSettings, TinyRecipe, TinySpec
from tubescope.engine.backends.llava import LlavaVideoBackend
from tubescope.engine.backends.prompting import ChatTemplate
from tubescope.engine.backends.qwen2_vl import CHATML_CHAT_TEMPLATE

__all__ = ["InternVLBackend", "INTERNVL_SYSTEM"]

#: the official InternVL2.5/InternVL3 system message (``internvl2_5`` conversation template).
INTERNVL_SYSTEM = (
    "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学"
    "及多家合作单位联合开发的多模态大语言模型。"
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _tiny_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    """A Qwen2 language model and a 112 px InternViT in 14 px patches, pixel shuffle 0.5."""
    pad, im_end = tiny.token_ids("<|endoftext|>", "<|im_end|>")
    (context,) = tiny.token_ids("<IMG_CONTEXT>")
    text = tiny.text_config(
        model_type="qwen2", bos_token_id=pad, eos_token_id=im_end, pad_token_id=pad
    )
    vision = tiny.vision_config(image_size=[112, 112], patch_size=[14, 14])
    config = {
        "text_config": text,
        "vision_config": vision,
        "image_token_id": context,
        "downsample_ratio": 0.5,
        "vision_feature_layer": -1,
        "vision_feature_select_strategy": "default",
        "tie_word_embeddings": False,
    }
    pixels = tiny.pixel_config(IMAGENET_MEAN, IMAGENET_STD, size={"height": 112, "width": 112})
    pre = {"image_processor_type": "GotOcr2ImageProcessor", **pixels}
    return {"config.json": config, "preprocessor_config.json": pre}


class InternVLBackend(LlavaVideoBackend):
    """InternVL adapter (see the module docstring)."""

    family: ClassVar[str] = "internvl"
    model_types: ClassVar[tuple[str, ...]] = ("internvl",)
    model_class_name: ClassVar[str] = "InternVLForConditionalGeneration"
    placeholder_config_keys: ClassVar[tuple[str, ...]] = ("image_token_id",)
    preprocessor_defaults: ClassVar[dict[str, Any]] = {
        "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD,
    }
    option_defaults: ClassVar[dict[str, Any]] = {"system": INTERNVL_SYSTEM, "frame_fit": "squash"}
    paper: ClassVar[PaperSettings | None] = None  # not a backbone of the official code
    tiny: ClassVar[TinyRecipe | None] = TinyRecipe(
        specials=(
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<img>",
            "</img>",
            "<IMG_CONTEXT>",
            "<video>",
        ),
        named_tokens={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
        chat_template=CHATML_CHAT_TEMPLATE,
        files=_tiny_files,
    )

    def _make_template(self) -> ChatTemplate:
        system = self.options["system"]
        head = "" if system is None else f"<|im_start|>system\n{system}<|im_end|>\n"
        return ChatTemplate(
            head=head + "<|im_start|>user\n",
            placeholder="<IMG_CONTEXT>",
            middle="\n",
            tail="<|im_end|>\n<|im_start|>assistant\n",
            frame_format="Frame{index}: <img>{placeholder}</img>",
            frame_separator="\n",
        )

    @property
    def grid_side(self) -> int:
        return int(round(self.patches_per_side * float(self.model.config.downsample_ratio)))

    def _encode_frames(
        self, frames: np.ndarray
    ) -> tuple[torch.Tensor, TokenLayout, dict[str, Any]]:
        num_frames = frames.shape[0]
        config = self.model.config
        tower_dtype = self.model.model.vision_tower.dtype
        pixels = torch.from_numpy(self.pixel_values(frames)).to(self.device, tower_dtype)
        out = self.model.model.get_image_features(
            pixel_values=pixels,
            vision_feature_layer=config.vision_feature_layer,
            vision_feature_select_strategy=config.vision_feature_select_strategy,
        )
        g = self.grid_side
        features = out.pooler_output
        if tuple(features.shape[:2]) != (num_frames, g * g):
            raise RuntimeError(
                f"{self.model_id}: vision features have shape {tuple(features.shape)}, "
                f"expected ({num_frames}, {g * g}, D)"
            )
        tokens = features.reshape(num_frames * g * g, -1)
        layout = TokenLayout.regular(num_frames, num_frames, g, g)
        return tokens, layout, {"tokens_per_frame": g * g}

    def _placeholder_counts(self, visual: VisualTokens) -> list[int]:
        layout = visual.layout
        return [layout.rows * layout.cols] * layout.groups
