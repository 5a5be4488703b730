"""LLaVA-NeXT-Video adapter.

Prompt (the official ``vicuna_v1`` conversation, BOS first)::

    <s>A chat between a curious user and an artificial intelligence assistant. The assistant
    gives helpful, detailed, and polite answers to the user's questions. USER: <video> x N\\n
    {question} ASSISTANT:

Candidate grounding tokens: the pieces of `` ASSISTANT:`` (Llama: ``▁A``, ``SS``, ``IST``,
``ANT``, ``:``; the official fixed offset ``-5`` is ``▁A``).

Visual tokens: CLIP features of each frame at the config's ``vision_feature_layer`` without
the CLS token (``S x S``), pooled with the config's ``spatial_pool_mode`` (average by default)
and stride, then projected (transformers' order). ``(F, S/s, S/s)`` row-major tokens, no newline.

Options:
    spatial_pool_stride (int | None): pooling stride; default the config's (2: 24 -> 12 for the
        336 px checkpoints; the paper used 4: 24 -> 6). A ``conv`` pooler only has its own stride.
    pool_after_projector (bool, False): project first, then pool (the original LLaVA-NeXT
        code's order; transformers pools first). Not available with a ``conv`` pooler.
    frame_fit ("squash" | "crop" | "pad", "squash"): how a frame becomes the tower's 336 px
        square (``tubescope.engine.backends.llava``). The checkpoint's processor centre-crops
        (``"crop"``: a 16:9 frame loses a quarter on each side); the default squashes the whole
        frame, as the official grounding code does. The encoded video's ``view`` says which
        part of the frame the token grid covers.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from tubescope.engine.backends.base import TokenLayout
from tubescope.engine.backends.families import PaperSettings, TinyRecipe, TinySpec
from tubescope.engine.backends.llava import LlavaVideoBackend
from tubescope.engine.backends.pixels import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from tubescope.engine.backends.prompting import ChatTemplate

__all__ = [
    "LlavaNextVideoBackend",
    "VICUNA_SYSTEM",
    "VICUNA_CHAT_TEMPLATE",
    "LLAVA_HF_CHAT_TEMPLATE",
]

#: the system prompt of the vicuna_v1 conversation.
VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

#: a Vicuna Jinja chat template (the tiny checkpoint saves it).
VICUNA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + ' ' }}"
    "{% elif message['role'] == 'user' %}{{ 'USER: ' + message['content'] + ' ' }}"
    "{% else %}{{ 'ASSISTANT: ' + message['content'] + '</s>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def _tiny_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    """A Llama language model and a 112 px CLIP tower in 14 px patches, pooled with stride 2."""
    unk, bos, eos = tiny.token_ids("<unk>", "<s>", "</s>")
    image, video = tiny.token_ids("<image>", "<video>")
    text = tiny.text_config(
        model_type="llama", bos_token_id=bos, eos_token_id=eos, pad_token_id=unk
    )
    vision = tiny.vision_config(model_type="clip_vision_model", projection_dim=32)
    config = {
        "text_config": text,
        "vision_config": vision,
        "image_token_index": image,
        "video_token_index": video,
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "spatial_pool_mode": "average",
        "spatial_pool_stride": 2,
        "image_grid_pinpoints": [[112, 112]],
        "tie_word_embeddings": False,
    }
    pixels = tiny.pixel_config(
        OPENAI_CLIP_MEAN,
        OPENAI_CLIP_STD,
        size={"shortest_edge": 112},
        do_center_crop=True,
        crop_size={"height": 112, "width": 112},
    )
    pre = {"image_processor_type": "LlavaNextImageProcessor", **pixels}
    return {"config.json": config, "preprocessor_config.json": pre}


#: the chat template of llava-hf/LLaVA-NeXT-Video-7B-hf (its processor's chat_template.json):
#: a system message's text, then ``ROLE: ``, images, videos and text per turn.
LLAVA_HF_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>\n' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def _added(content: str) -> dict[str, Any]:
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": True}  # fmt: skip


# What llava-hf/LLaVA-NeXT-Video-7B-hf publishes besides its Llama-2 ``tokenizer.model`` (its
# model card and transformers' conversion script): the Vicuna tokenizer settings with the added
# tokens <video> = 32000 and <image> = 32001, the processor's chat template, the 336 px CLIP
# preprocessing (shortest edge 336, centre crop 336) and the config fields a tiny checkpoint keeps.
_DOCUMENTED = {
    "tokenizer_config.json": {
        "tokenizer_class": "LlamaTokenizer",
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<unk>",
        "padding_side": "left",
        "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": {
            "0": _added("<unk>"),
            "1": _added("<s>"),
            "2": _added("</s>"),
            "32000": _added("<video>"),
            "32001": _added("<image>"),
        },
    },
    "chat_template.json": {"chat_template": LLAVA_HF_CHAT_TEMPLATE},
    "config.json": {
        "model_type": "llava_next_video",
        "image_token_index": 32001,
        "video_token_index": 32000,
        "projector_hidden_act": "gelu",
        "spatial_pool_mode": "average",
        "spatial_pool_stride": 2,
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "image_grid_pinpoints": [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],
        "tie_word_embeddings": False,
        "text_config": {
            "model_type": "llama",
            "bos_token_id": 1,
            "eos_token_id": 2,
            "pad_token_id": 0,
            "rms_norm_eps": 1e-05,
            "vocab_size": 32064,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": 1024,
            "image_size": 336,
            "intermediate_size": 4096,
            "num_attention_heads": 16,
            "num_hidden_layers": 24,
            "patch_size": 14,
            "projection_dim": 768,
        },
        "vocab_size": 32064,
    },
    "preprocessor_config.json": {
        "image_processor_type": "LlavaNextImageProcessor",
        "processor_class": "LlavaNextVideoProcessor",
        "do_resize": True,
        "size": {"shortest_edge": 336},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": 336, "width": 336},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(OPENAI_CLIP_MEAN),
        "image_std": list(OPENAI_CLIP_STD),
        "do_convert_rgb": True,
    },
    "generation_config.json": {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0},
}

_KEPT = ("image_token_index", "video_token_index", "projector_hidden_act", "spatial_pool_mode",
         "spatial_pool_stride", "vision_feature_layer", "vision_feature_select_strategy",
         "image_grid_pinpoints", "tie_word_embeddings")  # fmt: skip


def _like_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    """A tiny LLaVA-NeXT-Video checkpoint like the real files: the real token ids, pooling,
    feature layer and CLIP geometry (image size, patch size), a 2-layer tower of width 32."""
    real = tiny.real
    config = real.require_json("config.json")
    text_real = config.get("text_config") or {}
    vision_real = config["vision_config"]
    text = tiny.text_config(
        model_type="llama",
        **{k: text_real[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id", "rms_norm_eps")
           if k in text_real},
    )
    vision = tiny.vision_config(
        model_type="clip_vision_model",
        image_size=vision_real["image_size"],
        patch_size=vision_real["patch_size"],
        projection_dim=32,
    )
    files: dict[str, dict[str, Any]] = {
        "config.json": {
            "text_config": text,
            "vision_config": vision,
            **{k: config[k] for k in _KEPT if k in config},
        }
    }
    files.update(real.jsons("preprocessor_config.json", "video_preprocessor_config.json"))
    return files


class LlavaNextVideoBackend(LlavaVideoBackend):
    """LLaVA-NeXT-Video adapter (see the module docstring)."""

    family: ClassVar[str] = "llava-next-video"
    model_types: ClassVar[tuple[str, ...]] = ("llava_next_video",)
    model_class_name: ClassVar[str] = "LlavaNextVideoForConditionalGeneration"
    preprocessor_defaults: ClassVar[dict[str, Any]] = {
        "image_mean": OPENAI_CLIP_MEAN,
        "image_std": OPENAI_CLIP_STD,
    }
    option_defaults: ClassVar[dict[str, Any]] = {
        "spatial_pool_stride": None,
        "pool_after_projector": False,
        "frame_fit": "squash",
    }
    # the official LLaVA-NeXT-Video (DPO) scripts: 20 frames at 336 px, projected and then
    # average-pooled with stride 4 (6 x 6 tokens a frame, llava_arch.py's order), the grounding
    # token at -5 (the first piece of " ASSISTANT:")
    paper: ClassVar[PaperSettings | None] = PaperSettings(
        num_frames=20,
        resolution=336,
        token_offset=-5,
        backend_options={"spatial_pool_stride": 4, "pool_after_projector": True},
    )
    tiny: ClassVar[TinyRecipe | None] = TinyRecipe(
        specials=("<unk>", "<s>", "</s>", "<image>", "<video>"),
        named_tokens={
            "unk_token": "<unk>",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "pad_token": "<unk>",
        },
        chat_template=VICUNA_CHAT_TEMPLATE,
        files=_tiny_files,
        like=_like_files,
        documented=_DOCUMENTED,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.model.config
        stride = self.options["spatial_pool_stride"]
        stride = int(config.spatial_pool_stride) if stride is None else stride
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(
                f"{self.family} option spatial_pool_stride must be a positive int, got {stride!r}"
            )
        self.pool_mode: str = str(config.spatial_pool_mode)
        if self.pool_mode not in ("average", "max", "conv"):
            raise ValueError(f"{self.model_id}: unknown spatial_pool_mode {self.pool_mode!r}")
        if self.pool_mode == "conv" and (
            stride != config.spatial_pool_stride or self.options["pool_after_projector"]
        ):
            raise ValueError(
                f"{self.model_id}: the conv pooler has fixed weights for stride {config.spatial_pool_stride} "
                "on vision features; spatial_pool_stride and pool_after_projector cannot change it"
            )
        if stride > self.patches_per_side:
            raise ValueError(
                f"{self.family} option spatial_pool_stride={stride} exceeds "
                f"the {self.patches_per_side} patches per side"
            )
        self.pool_stride: int = stride

    def _make_template(self) -> ChatTemplate:
        return ChatTemplate(
            head=VICUNA_SYSTEM + " USER: ",
            placeholder="<video>",
            middle="\n",
            tail=" ASSISTANT:",
            add_bos=True,
        )

    @property
    def grid_side(self) -> int:
        return self.patches_per_side // self.pool_stride

    def _pool(self, features: torch.Tensor) -> torch.Tensor:
        """``(F, S*S, C)`` -> ``(F, g*g, C)``."""
        frames, _, channels = features.shape
        s = self.patches_per_side
        grid = features.reshape(frames, s, s, channels).permute(0, 3, 1, 2)
        if self.pool_mode == "average":
            grid = torch.nn.functional.avg_pool2d(grid, self.pool_stride, self.pool_stride)
        elif self.pool_mode == "max":
            grid = torch.nn.functional.max_pool2d(grid, self.pool_stride, self.pool_stride)
        else:
            grid = self.model.model.vision_resampler.pool(grid)
        return grid.flatten(2).transpose(1, 2)

    def _encode_frames(
        self, frames: np.ndarray
    ) -> tuple[torch.Tensor, TokenLayout, dict[str, Any]]:
        num_frames = frames.shape[0]
        features = self.vision_features(frames)
        projector = self.model.model.multi_modal_projector
        if self.options["pool_after_projector"]:
            tokens = self._pool(projector(features))
        else:
            tokens = projector(self._pool(features))
        g = self.grid_side
        tokens = tokens.reshape(num_frames * g * g, -1)
        layout = TokenLayout.regular(num_frames, num_frames, g, g)
        return (
            tokens,
            layout,
            {"patches_per_side": self.patches_per_side, "pool_stride": self.pool_stride},
        )
