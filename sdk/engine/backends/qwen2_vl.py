"""Qwen2-VL and Qwen2.5-VL adapters.

Prompt (ChatML, the official chat template with one video entry before the question)::

    <|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n
    <|vision_start|><|video_pad|> x N<|vision_end|>{question}<|im_end|>\\n<|im_start|>assistant\\n

Candidate grounding tokens: ``<|im_end|>``, ``\\n``, ``<|im_start|>``, ``assistant``, ``\\n``
(the official code's fixed choice, offset ``-3``, is ``<|im_start|>``).

Pixels: frames are resized with Qwen's ``smart_resize`` (both sides multiples of 28, pixel count
within ``[min_pixels, max_pixels]``; an explicit ``size=(h, w)`` option overrides it), rescaled and
normalised with the checkpoint's mean/std, and patchified exactly like the official processor.
Two consecutive frames form one temporal patch (``temporal_patch_size=2``; an odd count repeats the
last frame). With ``duplicate_frames=True`` every frame is repeated into its own temporal patch, as
the paper's Qwen2-VL code does, so each token group holds one frame.

Layout: tokens are row-major ``(groups, rows, cols)`` with ``rows = H/28``, ``cols = W/28``; no
newline tokens. Position ids are M-RoPE ids from ``model.model.get_rope_index`` with the video's
``mm_token_type_ids`` (and, for Qwen2.5-VL, ``second_per_grid_ts`` from the frames' timestamps or
``sample_fps``), or with ``positions="1d"`` plain positions ``0..L-1`` on all three M-RoPE axes
(what the official ``generate(inputs_embeds=...)`` call gets in the transformers it pins: no
``input_ids``, so no M-RoPE); they are passed explicitly to every prefix and suffix forward, so
the shared-prefix KV cache is exact.

Options:
    duplicate_frames (bool, False): one frame per temporal patch (official paper behaviour).
    min_pixels / max_pixels (int | None): pixel budget per frame; default from the checkpoint's
        ``video_preprocessor_config.json``, else Qwen's video defaults 128·28² / 768·28².
    size ((int, int) | None): exact frame size ``(height, width)``, multiples of 28 (the paper
        uses 224 x 224 for Qwen2-VL).
    sample_fps (float, 2.0): frames per second of the sampled frames (Qwen2.5-VL temporal ids);
        ``encode(..., timestamps=[...])`` derives it from the frame times instead (the engine
        passes the sampled frames' times).
    positions ("mrope" | "1d", "mrope"): M-RoPE position ids, or the official code's plain 1-D
        positions (docs/method.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from tubescope.engine.backends.adapter import TransformersBackend
from tubescope.engine.backends.base import TokenLayout, VisualTokens
from tubescope.engine.backends.families import PaperSettings, TinyRecipe, TinySpec
from tubescope.engine.backends.pixels import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    qwen_frame_size,
    qwen_patchify,
    rescale_normalize,
    resize_frames,
)
from tubescope.engine.backends.prompting import ChatTemplate
from tubescope.engine.backends.realfiles import scale_block_indexes, scale_sections
from tubescope.errors import ModelUnavailableError

__all__ = ["Qwen2VLBackend", "Qwen25VLBackend", "CHATML_SYSTEM", "CHATML_CHAT_TEMPLATE"]

#: the default system turn of Qwen2-VL and LLaVA-OneVision (official code and chat templates).
CHATML_SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"

#: a plain ChatML Jinja chat template (the tiny checkpoints of the ChatML families save it).
CHATML_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

#: Qwen video pixel budget when the checkpoint has no video preprocessor config (qwen-vl-utils).
VIDEO_MIN_PIXELS = 128 * 28 * 28
VIDEO_MAX_PIXELS = 768 * 28 * 28

# The official Qwen scripts: 20 frames squashed to 224 x 224, one frame per temporal patch, the
# grounding token at -3; 10 frames on HC-STVG-v1 and VidSTG. ``size`` pins 224 x 224 frames to an
# 8 x 8 grid (Qwen's default pixel budget would upscale them); ``generate(inputs_embeds=...)``
# without input ids gives the official code plain 1-D positions.
_QWEN_PAPER = PaperSettings(
    num_frames=20,
    resolution=224,
    token_offset=-3,
    backend_options={"duplicate_frames": True, "size": (224, 224), "positions": "1d"},
    datasets={"hcstvg-v1": {"num_frames": 10}, "vidstg": {"num_frames": 10}},
)

_QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def _tiny_qwen_files(tiny: TinySpec, vision: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Config and preprocessor files of a tiny Qwen2-VL / Qwen2.5-VL checkpoint; ``vision`` is
    the family's vision tower config (the patch geometry is shared)."""
    half = tiny.head_dim // 2
    section = [half - 2 * (half // 3), half // 3, half // 3]  # sums to head_dim / 2
    pad, im_end = tiny.token_ids("<|endoftext|>", "<|im_end|>")
    image, video, start, end = tiny.token_ids(
        "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"
    )
    text = tiny.text_config(
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section},
        bos_token_id=pad,
        eos_token_id=im_end,
        pad_token_id=pad,
    )
    patches = {
        "patch_size": 14,
        "temporal_patch_size": 2,
        "spatial_merge_size": 2,
        "in_channels": 3,
    }
    config = {
        "text_config": text,
        "vision_config": {**vision, **patches},
        "image_token_id": image,
        "video_token_id": video,
        "vision_start_token_id": start,
        "vision_end_token_id": end,
        "tie_word_embeddings": False,
    }
    pixels = {
        **tiny.pixel_config(OPENAI_CLIP_MEAN, OPENAI_CLIP_STD),
        "min_pixels": 28 * 28 * 4,
        "max_pixels": 28 * 28 * 64,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
    }
    return {
        "config.json": config,
        "preprocessor_config.json": {"image_processor_type": "Qwen2VLImageProcessor", **pixels},
        "video_preprocessor_config.json": {
            **pixels,
            "video_processor_type": "Qwen2VLVideoProcessor",
        },
    }


def _qwen2_vl_tower(tiny: TinySpec) -> dict[str, Any]:
    return {"depth": 2, "embed_dim": 32, "hidden_size": tiny.hidden_size, "num_heads": 2, "mlp_ratio": 2}


def _qwen25_vl_tower(tiny: TinySpec) -> dict[str, Any]:
    return {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": tiny.hidden_size,
    }


def _tiny_qwen2_vl_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    return _tiny_qwen_files(tiny, _qwen2_vl_tower(tiny))


def _tiny_qwen25_vl_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    vision = {
        **_qwen25_vl_tower(tiny),
        "fullatt_block_indexes": [1],
        "window_size": 112,
        "tokens_per_second": 2,
    }
    return _tiny_qwen_files(tiny, vision)


def _like_qwen2_vl_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    return like_qwen_files(tiny, _qwen2_vl_tower(tiny))


def _like_qwen25_vl_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    return like_qwen_files(tiny, _qwen25_vl_tower(tiny))


# Qwen2-VL-7B-Instruct's published config.json, preprocessor_config.json and
# generation_config.json (the fields a tiny checkpoint keeps): a Qwen2-VL checkpoint built like
# real files whose folders hold only its tokenizer takes them from here.
_QWEN2_VL_DOCUMENTED = {
    "config.json": {
        "model_type": "qwen2_vl",
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "vision_token_id": 151654,
        "image_token_id": 151655,
        "video_token_id": 151656,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": False,
        "vision_config": {
            "depth": 32,
            "embed_dim": 1280,
            "mlp_ratio": 4,
            "num_heads": 16,
            "in_chans": 3,
            "hidden_size": 3584,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "spatial_patch_size": 14,
            "temporal_patch_size": 2,
        },
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
        "vocab_size": 152064,
    },
    "preprocessor_config.json": {
        "min_pixels": 3136,
        "max_pixels": 12845056,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": list(OPENAI_CLIP_MEAN),
        "image_std": list(OPENAI_CLIP_STD),
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2VLProcessor",
    },
    "generation_config.json": {
        "bos_token_id": 151643,
        "pad_token_id": 151643,
        "do_sample": True,
        "eos_token_id": [151645, 151643],
        "repetition_penalty": 1.05,
        "temperature": 0.1,
        "top_k": 1,
        "top_p": 0.001,
    },
}


_QWEN_TOKENS = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}

#: config fields of the real checkpoint kept as they are in a tiny one built like it.
_QWEN_TOKEN_FIELDS = (
    "image_token_id",
    "video_token_id",
    "vision_start_token_id",
    "vision_end_token_id",
    "vision_token_id",
)
_QWEN_VISION_GEOMETRY = (
    "patch_size",
    "spatial_merge_size",
    "temporal_patch_size",
    "in_chans",
    "in_channels",
    "window_size",
    "tokens_per_second",
    "hidden_act",
)


def like_qwen_files(tiny: TinySpec, vision: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A tiny Qwen2-VL / Qwen2.5-VL checkpoint like the real files ``tiny.real``: the real token
    ids, vocabulary size, rope base, M-RoPE sections (scaled to the tiny head size) and vision
    geometry; ``vision`` holds the tower's tiny widths and depth (its full-attention blocks,
    if the tower has any, are the real ones scaled to that depth); the real preprocessor files."""
    real = tiny.real
    config = real.require_json("config.json")
    text_real = {**config, **(config.get("text_config") or {})}  # flat (Qwen2/2.5) or nested
    rope = text_real.get("rope_parameters") or text_real.get("rope_scaling") or {}
    sections = rope.get("mrope_section")
    if not sections:
        raise ModelUnavailableError(f"{real!r}: config.json has no mrope_section")
    theta = rope.get("rope_theta", text_real.get("rope_theta", 10000.0))
    text = tiny.text_config(
        rope_parameters={
            "rope_type": "default",
            "rope_theta": float(theta),
            "mrope_section": scale_sections(sections, tiny.head_dim // 2),
        },
        **{k: text_real[k] for k in ("bos_token_id", "eos_token_id", "rms_norm_eps", "hidden_act")
           if k in text_real},
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
    )
    vision_real = config["vision_config"]
    tower = {**{k: vision_real[k] for k in _QWEN_VISION_GEOMETRY if k in vision_real}, **vision}
    if "fullatt_block_indexes" in vision_real:
        tower["fullatt_block_indexes"] = scale_block_indexes(
            vision_real["fullatt_block_indexes"], int(vision_real["depth"]), int(vision["depth"])
        )
    files: dict[str, dict[str, Any]] = {
        "config.json": {
            "text_config": text,
            "vision_config": tower,
            **{k: config[k] for k in _QWEN_TOKEN_FIELDS if k in config},
            "tie_word_embeddings": text["tie_word_embeddings"],
        }
    }
    files.update(real.jsons("preprocessor_config.json", "video_preprocessor_config.json"))
    return files


class Qwen2VLBackend(TransformersBackend):
    """Qwen2-VL adapter (see the module docstring for the prompt, layout and options)."""

    family: ClassVar[str] = "qwen2-vl"
    model_types: ClassVar[tuple[str, ...]] = ("qwen2_vl",)
    model_class_name: ClassVar[str] = "Qwen2VLForConditionalGeneration"
    paper: ClassVar[PaperSettings | None] = _QWEN_PAPER
    tiny: ClassVar[TinyRecipe | None] = TinyRecipe(
        _QWEN_SPECIALS,
        _QWEN_TOKENS,
        CHATML_CHAT_TEMPLATE,
        _tiny_qwen2_vl_files,
        like=_like_qwen2_vl_files,
        documented=_QWEN2_VL_DOCUMENTED,
    )
    preprocessor_defaults: ClassVar[dict[str, Any]] = {
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
    }
    option_defaults: ClassVar[dict[str, Any]] = {
        "duplicate_frames": False,
        "min_pixels": None,
        "max_pixels": None,
        "size": None,
        "sample_fps": 2.0,
        "positions": "mrope",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.options["positions"] not in ("mrope", "1d"):
            raise ValueError(
                f"{self.family} option positions must be 'mrope' or '1d', got {self.options['positions']!r}"
            )

    def encode(
        self,
        frames: np.ndarray,
        frame_indices: Sequence[int] | None = None,
        *,
        timestamps: Sequence[float] | None = None,
    ) -> VisualTokens:
        """:meth:`TransformersBackend.encode`; ``timestamps`` (seconds of each frame) set the
        seconds per temporal patch of Qwen2.5-VL's position ids."""
        return super().encode(frames, frame_indices, timestamps=timestamps)

    def _make_template(self) -> ChatTemplate:
        return ChatTemplate(
            head=CHATML_SYSTEM + "<|im_start|>user\n<|vision_start|>",
            placeholder="<|video_pad|>",
            middle="<|vision_end|>",
            tail="<|im_end|>\n<|im_start|>assistant\n",
            text_head=CHATML_SYSTEM + "<|im_start|>user\n",
        )

    # ---------------------------------------------------------------- geometry

    @property
    def patch_size(self) -> int:
        return int(self.model.config.vision_config.patch_size)

    @property
    def merge_size(self) -> int:
        return int(self.model.config.vision_config.spatial_merge_size)

    @property
    def temporal_patch_size(self) -> int:
        return int(self.model.config.vision_config.temporal_patch_size)

    def frame_size(self, height: int, width: int, num_frames: int = 2) -> tuple[int, int]:
        """The ``(height, width)`` frames of ``height x width`` are resized to (Qwen2-VL's
        pixel budget is per frame: ``num_frames``, the frames the tower sees, does not matter)."""
        factor = self.patch_size * self.merge_size
        size = self.options["size"]
        if size is not None:
            h, w = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
            if h % factor or w % factor or h <= 0 or w <= 0:
                raise ValueError(
                    f"{self.family} option size={size!r}: both sides must be positive multiples of {factor}"
                )
            return h, w
        pre = self.preprocessor
        has_video_config = any(s.endswith("video_preprocessor_config.json") for s in pre.sources)
        min_pixels = (
            self.options["min_pixels"]
            or (pre.min_pixels if has_video_config else None)
            or VIDEO_MIN_PIXELS
        )
        max_pixels = (
            self.options["max_pixels"]
            or (pre.max_pixels if has_video_config else None)
            or VIDEO_MAX_PIXELS
        )
        if min_pixels > max_pixels:
            raise ValueError(
                f"{self.family}: min_pixels={min_pixels} is larger than max_pixels={max_pixels}"
            )
        return qwen_frame_size(
            height,
            width,
            patch_size=self.patch_size,
            merge_size=self.merge_size,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
        )

    def pixel_values(self, frames: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int], int]:
        """``(patches, (grid_t, grid_h, grid_w), frames_per_group)`` for ``(F, H, W, 3)`` uint8 frames."""
        pre = self.preprocessor
        tps = self.temporal_patch_size
        seen = frames.shape[0] * (tps if self.options["duplicate_frames"] else 1)
        h, w = self.frame_size(frames.shape[1], frames.shape[2], seen)
        resized = resize_frames(frames, h, w, pre.resample)
        pixels = rescale_normalize(resized, pre.image_mean, pre.image_std, pre.rescale_factor)
        per_group = tps
        if self.options["duplicate_frames"]:
            pixels = np.repeat(pixels, tps, axis=0)
            per_group = 1
        patches, grid = qwen_patchify(
            pixels, patch_size=self.patch_size, merge_size=self.merge_size, temporal_patch_size=tps
        )
        return patches, grid, per_group

    # ---------------------------------------------------------------- hooks

    def _run_tower(self, frames: np.ndarray) -> tuple[Any, TokenLayout, dict[str, Any]]:
        """The vision tower's output on ``frames`` (one video), the token layout and the
        ``extra`` entries of the grid: ``video_grid_thw``, ``frames_per_group``, ``frame_size``."""
        num_frames = frames.shape[0]
        patches, (gt, gh, gw), per_group = self.pixel_values(frames)
        grid = torch.tensor([[gt, gh, gw]], dtype=torch.long, device=self.device)
        pixel_values = torch.from_numpy(patches).to(self.device, self.model.model.visual.dtype)
        output = self.model.model.get_video_features(
            pixel_values_videos=pixel_values, video_grid_thw=grid
        )
        m = self.merge_size
        group_of_frame = np.arange(num_frames) // per_group
        layout = TokenLayout.regular(
            num_frames, gt, gh // m, gw // m, group_of_frame=group_of_frame
        )
        extra = {
            "video_grid_thw": grid,
            "frames_per_group": per_group,
            "frame_size": (gh * self.patch_size, gw * self.patch_size),
        }
        return output, layout, extra

    def _encode_frames(
        self, frames: np.ndarray, *, timestamps: Sequence[float] | None = None
    ) -> tuple[torch.Tensor, TokenLayout, dict[str, Any]]:
        num_frames = frames.shape[0]
        output, layout, extra = self._run_tower(frames)
        per_group = extra["frames_per_group"]
        fps = float(self.options["sample_fps"])
        if timestamps is not None:
            times = np.asarray(timestamps, dtype=np.float64)
            if times.shape != (num_frames,):
                raise ValueError(f"{len(times)} timestamps for {num_frames} frames")
            if num_frames > 1:
                step = float(np.median(np.diff(times)))
                if step <= 0:
                    raise ValueError("timestamps must increase")
                fps = 1.0 / step
        if fps <= 0:
            raise ValueError(f"sample_fps must be positive, got {fps}")
        extra["second_per_grid_ts"] = per_group / fps
        return output.pooler_output[0], layout, extra

    def _rope_kwargs(self, visual: VisualTokens) -> dict[str, Any]:
        return {}

    def _text_position_ids(self, start: int, length: int) -> torch.Tensor:
        # M-RoPE: text tokens have the same temporal, height and width position
        return super()._text_position_ids(start, length)[None].expand(3, 1, length)

    def _position_ids(self, input_ids: torch.Tensor, visual: VisualTokens) -> torch.Tensor:
        if self.options["positions"] == "1d":
            return super()._position_ids(input_ids, visual)
        types = (input_ids == self.placeholder_id).to(torch.int32) * 2  # 0 text, 2 video
        positions, _ = self.model.model.get_rope_index(
            input_ids[None],
            mm_token_type_ids=types[None],
            video_grid_thw=visual.extra["video_grid_thw"],
            **self._rope_kwargs(visual),
        )
        return positions


class Qwen25VLBackend(Qwen2VLBackend):
    """Qwen2.5-VL adapter: Qwen2-VL's layout and prompt, window-attention vision tower, and
    temporal M-RoPE ids scaled by ``second_per_grid_ts`` (seconds per temporal patch)."""

    family: ClassVar[str] = "qwen2.5-vl"
    model_types: ClassVar[tuple[str, ...]] = ("qwen2_5_vl",)
    model_class_name: ClassVar[str] = "Qwen2_5_VLForConditionalGeneration"
    paper: ClassVar[PaperSettings | None] = _QWEN_PAPER
    tiny: ClassVar[TinyRecipe | None] = TinyRecipe(
        _QWEN_SPECIALS,
        _QWEN_TOKENS,
        CHATML_CHAT_TEMPLATE,
        _tiny_qwen25_vl_files,
        like=_like_qwen25_vl_files,
    )

    def _rope_kwargs(self, visual: VisualTokens) -> dict[str, Any]:
        return {
            "second_per_grid_ts": torch.tensor(
                [visual.extra["second_per_grid_ts"]], dtype=torch.float32, device=self.device
            )
        }
