"""LLaVA-OneVision adapter.

Prompt (the official ``qwen_1_5`` conversation, ChatML)::

    <|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n
    <video> x N\\n{question}<|im_end|>\\n<|im_start|>assistant\\n

Candidate grounding tokens: ``<|im_end|>``, ``\\n``, ``<|im_start|>``, ``assistant``, ``\\n``
(official fixed offset ``-3`` = ``<|im_start|>``).

Visual tokens: SigLIP features of each frame (``S x S`` patches, ``S = image_size // patch_size``)
-> projector -> bilinear resize to ``ceil(S / pool_stride)`` per side (transformers and the
official ``get_2dPool``; stride 2 is transformers' video default, 27 -> 14 for the 384 px
checkpoints; the paper used stride 5, 27 -> 6) -> ``(F, g, g)`` row-major tokens, followed by one
``image_newline`` token after the last frame (``newline="one_token"``, the official video
layout; ``"none"`` drops it). :meth:`VisualTokens.reversed_frames` keeps the newline token last.

Options:
    pool_stride (int, 2): spatial pooling stride (bilinear, output ``ceil(S / stride)``).
    newline ("one_token" | "none", "one_token"): the trailing newline token.
    frame_fit ("squash" | "crop" | "pad", "squash"): how a frame becomes the tower's square
        (``tubescope.engine.backends.llava``); the checkpoint's video processor squashes.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from tubescope.engine.backends.base import TokenLayout
from tubescope.engine.backends.families import PaperSettings, TinyRecipe, TinySpec
from tubescope.engine.backends.llava import LlavaVideoBackend
from tubescope.engine.backends.prompting import ChatTemplate
from tubescope.engine.backends.qwen2_vl import CHATML_CHAT_TEMPLATE, CHATML_SYSTEM

__all__ = ["LlavaOnevisionBackend"]


def _tiny_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    """A Qwen2 language model and a 112 px SigLIP tower in 14 px patches."""
    pad, im_end = tiny.token_ids("<|endoftext|>", "<|im_end|>")
    image, video = tiny.token_ids("<image>", "<video>")
    text = tiny.text_config(
        model_type="qwen2", bos_token_id=pad, eos_token_id=im_end, pad_token_id=pad
    )
    vision = tiny.vision_config(model_type="siglip_vision_model")
    config = {
        "text_config": text,
        "vision_config": vision,
        "image_token_index": image,
        "video_token_index": video,
        "vision_feature_layer": -1,
        "vision_feature_select_strategy": "full",
        "image_grid_pinpoints": [[112, 112]],
        "tie_word_embeddings": False,
    }
    pre = {
        "image_processor_type": "LlavaOnevisionImageProcessor",
        **tiny.pixel_config([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], size={"height": 112, "width": 112}),
        "do_convert_rgb": True,
    }
    return {"config.json": config, "preprocessor_config.json": pre}


class LlavaOnevisionBackend(LlavaVideoBackend):
    """LLaVA-OneVision adapter (see the module docstring)."""

    family: ClassVar[str] = "llava-onevision"
    model_types: ClassVar[tuple[str, ...]] = ("llava_onevision",)
    model_class_name: ClassVar[str] = "LlavaOnevisionForConditionalGeneration"
    preprocessor_defaults: ClassVar[dict[str, Any]] = {
        "image_mean": (0.5, 0.5, 0.5),
        "image_std": (0.5, 0.5, 0.5),
    }
    option_defaults: ClassVar[dict[str, Any]] = {
        "pool_stride": 2,
        "newline": "one_token",
        "frame_fit": "squash",
    }
    # the official OV scripts: 20 frames at 336 px pooled with stride 5 (6 x 6 tokens a frame),
    # the grounding token at -3; one LRA step on HC-STVG-v1
    paper: ClassVar[PaperSettings | None] = PaperSettings(
        num_frames=20,
        resolution=336,
        token_offset=-3,
        backend_options={"pool_stride": 5},
        datasets={"hcstvg-v1": {"lra_steps": 1}},
    )
    tiny: ClassVar[TinyRecipe | None] = TinyRecipe(
        specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"),
        named_tokens={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
        chat_template=CHATML_CHAT_TEMPLATE,
        files=_tiny_files,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stride = self.options["pool_stride"]
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(
                f"{self.family} option pool_stride must be a positive int, got {stride!r}"
            )
        if self.options["newline"] not in ("one_token", "none"):
            raise ValueError(
                f"{self.family} option newline must be 'one_token' or 'none', got {self.options['newline']!r}"
            )

    def _make_template(self) -> ChatTemplate:
        return ChatTemplate(
            head=CHATML_SYSTEM + "<|im_start|>user\n",
            placeholder="<video>",
            middle="\n",
            tail="<|im_end|>\n<|im_start|>assistant\n",
        )

    @property
    def grid_side(self) -> int:
        return math.ceil(self.patches_per_side / self.options["pool_stride"])

    def _encode_frames(
        self, frames: np.ndarray
    ) -> tuple[torch.Tensor, TokenLayout, dict[str, Any]]:
        num_frames = frames.shape[0]
        features = self.model.model.multi_modal_projector(self.vision_features(frames))
        s, g = self.patches_per_side, self.grid_side
        grid = features.reshape(num_frames, s, s, -1).permute(0, 3, 1, 2)
        if g != s:
            grid = torch.nn.functional.interpolate(grid, size=(g, g), mode="bilinear")
        tokens = grid.permute(0, 2, 3, 1).reshape(num_frames * g * g, -1)
        newlines = 0
        if self.options["newline"] == "one_token":
            newline = self.model.model.image_newline.to(tokens.dtype)
            tokens = torch.cat([tokens, newline[None]], dim=0)
            newlines = 1
        layout = TokenLayout.regular(num_frames, num_frames, g, g, trailing_newlines=newlines)
        return tokens, layout, {"patches_per_side": s}
