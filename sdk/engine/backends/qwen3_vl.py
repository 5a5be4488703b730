"""Qwen3-VL adapters (dense: 2B / 4B / 8B; mixture of experts: 30B-A3B), on stock transformers.

Prompt (the checkpoint's chat template: no default system turn, one video entry before the
question, and transformers' ``Qwen3VLProcessor`` expansion of its ``<|video_pad|>``: one block
per temporal patch, the patch's time printed before it)::

    <|im_start|>user\\n<|vision_start|>
    <0.2 seconds><|vision_start|><|video_pad|> x n<|vision_end|>
    <1.2 seconds><|vision_start|><|video_pad|> x n<|vision_end|> ...
    <|vision_end|>{question}<|im_end|>\\n<|im_start|>assistant\\n

(without the line breaks). transformers 5.x replaces only the ``<|video_pad|>`` of the
template's ``<|vision_start|><|video_pad|><|vision_end|>``, so the outer pair stays around the
blocks; we match it token for token (tests/engine/backends/test_real_files.py). A block's time
is the mean of its first and last frame's time, printed with one decimal, as the processor
computes it; the frames' times are ``encode(..., timestamps=[...])`` (seconds, one per frame),
else ``i / sample_fps``. Candidate grounding tokens: the ChatML tail ``<|im_end|>``, ``\\n``,
``<|im_start|>``, ``assistant``, ``\\n``.

Pixels: 16 px patches, 2 x 2 spatial merge (32 px token cells), 2 frames per temporal patch,
mean/std 0.5. Frames are resized with the video processor's ``smart_resize``: both sides
multiples of 32, the *whole clip's* pixels (frames x height x width) within
``[min_pixels, max_pixels]``, the ``size.shortest_edge`` / ``size.longest_edge`` of the
checkpoint's ``video_preprocessor_config.json``; ``cap_pixels_per_frame=True`` applies
qwen-vl-utils' per-frame cap (768 tokens) as transformers' option of that name does. Which
frames are shown is the grounder's choice (``num_frames`` sampled uniformly, as in the paper),
not the video processor's own sampling (2 fps, 4 to 768 frames); the printed times tell the
model when each was taken either way.

Vision tower: each temporal patch attends only to itself (as in Qwen2-VL), so token groups
are independent and :meth:`VisualTokens.reversed_frames` of an encoding is the encoding of the
groups in reverse order. The tower also returns *DeepStack* features: the outputs of a few
intermediate vision blocks (``deepstack_visual_indexes``), each through its own merger, which
the language model adds to its hidden states at the visual positions after its first decoder
layers (``Qwen3VLTextModel._deepstack_process``). They are kept as
:attr:`VisualTokens.layer_embeds` and reach every prefill forward through transformers'
``visual_pos_masks`` / ``deepstack_visual_embeds`` inputs, sliced to the positions each
forward covers (the shared prefix holds the video; a suffix without visual tokens gets none),
and they are reversed with the tokens for TAS.

Decisions (the paper predates Qwen3-VL, so neither has an official answer):

* LRA's visual prompt is added to the visual input embeddings only, as for every other
  family; the DeepStack features stay as encoded. The prompt lives in the language model's
  input space (what the paper learns), its gradient still flows through every layer, and
  adding the same tensor again after the first decoder layers would scale the step per layer.
* TAS re-times the reversed video: the reversed pass's blocks carry the times of a video played
  backwards (block ``j`` shows original group ``G-1-j`` at ``t_0 + t_{G-1} - t_{G-1-j}``), so
  the times still increase and the text cannot tell the model the true order. With evenly
  spaced frames this is exactly the forward pass's text; the pass equals encoding the frames
  backwards with those times (tests/engine/backends/test_qwen3_vl.py).

M-RoPE: Qwen3-VL interleaves the temporal, height and width frequencies
(``mrope_interleaved``) and gives every block's tokens, as their temporal id, the position
that follows the text before them (the printed times replace Qwen2.5-VL's time-scaled ids, so
a reversed pass keeps the forward pass's position ids); position ids come from
``model.model.get_rope_index`` with the video grid split per temporal patch, as transformers
computes them.

Options:
    duplicate_frames (bool, False): one frame per temporal patch (each frame its own block
        and time; our ``paper`` preset uses it, as the paper's Qwen2-VL code does).
    min_pixels / max_pixels (int | None): pixel budget of the whole clip; default from the
        checkpoint's video preprocessor config (transformers' defaults 128 / 768 tokens x 32²).
    cap_pixels_per_frame (bool, False): qwen-vl-utils' per-frame cap (transformers' option).
    size ((int, int) | None): exact frame size ``(height, width)``, multiples of 32.
    sample_fps (float, 2.0): the frames' rate when ``encode`` gets no timestamps.

Presets: Qwen3-VL is not in the paper. Our ``paper`` preset for it transfers the official
Qwen2-VL setup: 20 frames (10 on HC-STVG-v1 and VidSTG), one frame per temporal patch, frames
squashed to 256 x 256 (8 x 8 tokens, the grid of Qwen2-VL's 224 x 224), grounding token
``<|im_start|>`` (offset -3); ``default`` uses the checkpoint's own preprocessing.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from tubescope.engine.backends import load_backend
    >>> from tubescope.testing import save_tiny_model
    >>> backend = load_backend(save_tiny_model("qwen3-vl", tempfile.mkdtemp()), device="cpu")
    >>> visual = backend.encode(np.zeros((4, 128, 128, 3), np.uint8), timestamps=[0, 1, 2, 3])
    >>> visual.layout.grid_shape, tuple(visual.layer_embeds.shape)
    ((2, 4, 4), (2, 32, 64))
    >>> text = backend.tokenizer.decode(backend.prompt("Is there a dog?", visual).input_ids)
    >>> text.count("<|video_pad|>"), "<0.5 seconds>" in text, "<2.5 seconds>" in text
    (32, True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from tubescope.engine.backends.base import TokenLayout, VisualTokens
from tubescope.engine.backends.families import PaperSettings, TinyRecipe, TinySpec
from tubescope.engine.backends.prompting import ChatTemplate
from tubescope.engine.backends.qwen2_vl import (
    _QWEN_SPECIALS,
    _QWEN_TOKENS,
    CHATML_CHAT_TEMPLATE,
    Qwen2VLBackend,
    _qwen25_vl_tower,
    _tiny_qwen_files,
    like_qwen_files,
)
from tubescope.engine.backends.realfiles import scale_block_indexes
from tubescope.errors import ValidationError

__all__ = ["Qwen3VLBackend", "Qwen3VLMoeBackend", "group_seconds", "reversed_seconds"]

#: mean and std of the Qwen3-VL processors.
QWEN3_MEAN = QWEN3_STD = (0.5, 0.5, 0.5)

#: transformers' Qwen3VLVideoProcessor budget when the checkpoint has none (32 px tokens).
VIDEO_MIN_PIXELS = 128 * 32 * 32
VIDEO_MAX_PIXELS = 768 * 32 * 32
#: qwen-vl-utils' per-frame token ceiling (transformers' ``max_video_tokens``).
MAX_VIDEO_TOKENS = 768

# Ours, not the paper's (it has no Qwen3-VL row): the official Qwen2-VL setup carried over.
_QWEN3_PAPER = PaperSettings(
    num_frames=20,
    resolution=256,
    token_offset=-3,
    backend_options={"duplicate_frames": True, "size": (256, 256)},
    datasets={"hcstvg-v1": {"num_frames": 10}, "vidstg": {"num_frames": 10}},
)


def group_seconds(
    times: Sequence[float], frames_per_group: int, temporal_patch: int = 2
) -> list[float]:
    """The time of each temporal patch as ``Qwen3VLProcessor`` prints it: the mean of its first
    and last frame's time, the last frame repeated to fill the last patch; with one frame per
    patch (duplicated frames) the frame's own time.

    Example:
        >>> group_seconds([0.0, 0.5, 1.0, 1.5, 2.0], 2)
        [0.25, 1.25, 2.0]
        >>> group_seconds([0.0, 0.5], 1)
        [0.0, 0.5]
    """
    values = [float(t) for t in times]
    if frames_per_group == 1:
        return values
    padded = values + [values[-1]] * (-len(values) % temporal_patch)
    return [
        (padded[i] + padded[i + temporal_patch - 1]) / 2
        for i in range(0, len(padded), temporal_patch)
    ]


def reversed_seconds(seconds: Sequence[float]) -> list[float]:
    """The block times of the groups played backwards: block ``j`` shows group ``G-1-j`` at
    ``t_0 + t_{G-1} - t_{G-1-j}`` (increasing; evenly spaced times come back unchanged).

    Example:
        >>> reversed_seconds([0.5, 1.5, 2.5]), reversed_seconds([0.0, 1.0, 4.0])
        ([0.5, 1.5, 2.5], [0.0, 3.0, 4.0])
    """
    first, last = float(seconds[0]), float(seconds[-1])
    return [first + last - float(s) for s in reversed(seconds)]


# ---------------------------------------------------------------------------- tiny checkpoints


def _tower(tiny: TinySpec) -> dict[str, Any]:
    """Qwen2.5-VL's 2-block tiny tower, both blocks feeding DeepStack."""
    return {**_qwen25_vl_tower(tiny), "deepstack_visual_indexes": [0, 1]}


def _tiny_files(tiny: TinySpec, **text_extra: Any) -> dict[str, dict[str, Any]]:
    """Config and preprocessor files of a tiny Qwen3-VL checkpoint: Qwen2-VL's tiny config
    with 16 px patches, the head size and interleaved M-RoPE sections of Qwen3-VL's text
    config (``text_extra``: more text fields), and Qwen3-VL's preprocessor files with a clip
    budget of 16 tokens per frame for 32 frames (4 frames of 112 x 112 -> 128 x 128, a
    ``(2, 4, 4)`` grid)."""
    config = _tiny_qwen_files(tiny, _tower(tiny))["config.json"]
    config["vision_config"]["patch_size"] = 16
    text = config["text_config"]
    text.update(head_dim=tiny.head_dim, **text_extra)
    text["rope_parameters"].update(rope_theta=5000000.0, mrope_interleaved=True)
    pixels = {
        "size": {"shortest_edge": 4096, "longest_edge": 32 * 16 * 32 * 32},
        "patch_size": 16,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": list(QWEN3_MEAN),
        "image_std": list(QWEN3_STD),
        "processor_class": "Qwen3VLProcessor",
    }
    image = {**pixels, "image_processor_type": "Qwen2VLImageProcessorFast"}
    video = {**pixels, "video_processor_type": "Qwen3VLVideoProcessor"}
    return {
        "config.json": config,
        "preprocessor_config.json": image,
        "video_preprocessor_config.json": video,
    }


def _like_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    """A tiny Qwen3-VL checkpoint like real files: Qwen2-VL's shrinking of the real config
    (token ids, vocabulary, rope base, M-RoPE sections scaled to the tiny head, patch geometry,
    the real preprocessor configs), plus the interleaved M-RoPE flag, the head size, the learned
    position grid and the DeepStack blocks scaled to the tiny tower's depth."""
    real = tiny.real.require_json("config.json")
    vision_real = real["vision_config"]
    tower = _tower(tiny)
    tower["num_position_embeddings"] = vision_real.get("num_position_embeddings", 2304)
    tower["deepstack_visual_indexes"] = scale_block_indexes(
        vision_real.get("deepstack_visual_indexes", []), int(vision_real["depth"]), tower["depth"]
    )
    files = like_qwen_files(tiny, tower)
    text = files["config.json"]["text_config"]
    text["head_dim"] = tiny.head_dim
    text_real = {**real, **(real.get("text_config") or {})}
    rope_real = text_real.get("rope_parameters") or text_real.get("rope_scaling") or {}
    if "mrope_interleaved" in rope_real:
        text["rope_parameters"]["mrope_interleaved"] = bool(rope_real["mrope_interleaved"])
    return files


def _tiny_moe_files(tiny: TinySpec) -> dict[str, dict[str, Any]]:
    """Qwen3-VL's tiny files with a mixture-of-experts language model (4 experts, 2 per token)."""
    return _tiny_files(
        tiny,
        num_experts=4,
        num_experts_per_tok=2,
        moe_intermediate_size=tiny.hidden_size,
        decoder_sparse_step=1,
    )


# ---------------------------------------------------------------------------- the adapters


class Qwen3VLBackend(Qwen2VLBackend):
    """Qwen3-VL adapter (see the module docstring for the prompt, DeepStack, TAS and options)."""

    family: ClassVar[str] = "qwen3-vl"
    model_types: ClassVar[tuple[str, ...]] = ("qwen3_vl",)
    model_class_name: ClassVar[str] = "Qwen3VLForConditionalGeneration"
    paper: ClassVar[PaperSettings | None] = _QWEN3_PAPER
    tiny: ClassVar[TinyRecipe | None] = TinyRecipe(
        _QWEN_SPECIALS, _QWEN_TOKENS, CHATML_CHAT_TEMPLATE, _tiny_files, like=_like_files
    )
    preprocessor_defaults: ClassVar[dict[str, Any]] = {
        "patch_size": 16,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": QWEN3_MEAN,
        "image_std": QWEN3_STD,
        "min_pixels": VIDEO_MIN_PIXELS,
        "max_pixels": VIDEO_MAX_PIXELS,
    }
    option_defaults: ClassVar[dict[str, Any]] = {
        **Qwen2VLBackend.option_defaults,
        "cap_pixels_per_frame": False,
    }

    def _make_template(self) -> ChatTemplate:
        return ChatTemplate(
            head="<|im_start|>user\n<|vision_start|>",
            placeholder="<|video_pad|>",
            middle="<|vision_end|>",
            tail="<|im_end|>\n<|im_start|>assistant\n",
            frame_format="<{seconds:.1f} seconds><|vision_start|>{placeholder}<|vision_end|>",
            frame_separator="",
            text_head="<|im_start|>user\n",
        )

    # ---------------------------------------------------------------- geometry

    def frame_size(self, height: int, width: int, num_frames: int = 2) -> tuple[int, int]:
        """The ``(height, width)`` the ``num_frames`` frames (as the tower sees them) of
        ``height x width`` are resized to: the video processor's ``smart_resize`` over the
        whole clip's pixel budget, or the ``size`` option."""
        if self.options["size"] is not None:
            return super().frame_size(height, width, num_frames)
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

        pre = self.preprocessor
        min_pixels = int(self.options["min_pixels"] or pre.min_pixels)
        max_pixels = int(self.options["max_pixels"] or pre.max_pixels)
        if min_pixels > max_pixels:
            raise ValueError(
                f"{self.family}: min_pixels={min_pixels} is larger than max_pixels={max_pixels}"
            )
        factor = self.patch_size * self.merge_size
        tps = self.temporal_patch_size
        count = max(int(num_frames), tps)  # one frame is padded to a temporal patch
        if self.options["cap_pixels_per_frame"]:
            per_frame = max(
                min(MAX_VIDEO_TOKENS * factor * factor, max_pixels // count),
                int(min_pixels * 1.05),
            )
            max_pixels = per_frame * count
        return smart_resize(
            count,
            height,
            width,
            temporal_factor=tps,
            factor=factor,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
        )

    # ---------------------------------------------------------------- hooks

    def _encode_frames(
        self, frames: np.ndarray, *, timestamps: Sequence[float] | None = None
    ) -> tuple[torch.Tensor, TokenLayout, dict[str, Any]]:
        times = self._frame_times(frames.shape[0], timestamps)
        output, layout, extra = self._run_tower(frames)
        per_group = extra["frames_per_group"]
        extra["group_seconds"] = tuple(group_seconds(times, per_group, self.temporal_patch_size))
        features = output.deepstack_features or []
        if features:
            extra["layer_embeds"] = torch.stack([f[0] for f in features])
        return output.pooler_output[0], layout, extra

    def _frame_times(self, num_frames: int, timestamps: Sequence[float] | None) -> np.ndarray:
        if timestamps is None:
            fps = float(self.options["sample_fps"])
            if not fps > 0:
                raise ValidationError(f"sample_fps must be positive, got {fps}", field="sample_fps")
            return np.arange(num_frames, dtype=np.float64) / fps
        times = np.asarray(timestamps, dtype=np.float64)
        if times.shape != (num_frames,):
            raise ValidationError(
                f"{times.size} timestamps for {num_frames} frames", field="timestamps"
            )
        if not np.isfinite(times).all() or (np.diff(times) < 0).any():
            raise ValidationError(
                f"timestamps must be finite and non-decreasing seconds, got {times.tolist()}",
                field="timestamps",
            )
        return times

    def _placeholder_counts(self, visual: VisualTokens) -> list[int]:
        layout = visual.layout
        return [layout.rows * layout.cols] * layout.groups

    def _group_seconds(self, visual: VisualTokens) -> list[float]:
        seconds = list(visual.extra["group_seconds"])
        return reversed_seconds(seconds) if visual.reversed else seconds


class Qwen3VLMoeBackend(Qwen3VLBackend):
    """Qwen3-VL with a mixture-of-experts language model (``Qwen/Qwen3-VL-30B-A3B-Instruct``):
    the same vision tower, DeepStack, prompt and options."""

    family: ClassVar[str] = "qwen3-vl-moe"
    model_types: ClassVar[tuple[str, ...]] = ("qwen3_vl_moe",)
    model_class_name: ClassVar[str] = "Qwen3VLMoeForConditionalGeneration"
    paper: ClassVar[PaperSettings | None] = _QWEN3_PAPER
    tiny: ClassVar[TinyRecipe | None] = TinyRecipe(
        _QWEN_SPECIALS, _QWEN_TOKENS, CHATML_CHAT_TEMPLATE, _tiny_moe_files
    )
