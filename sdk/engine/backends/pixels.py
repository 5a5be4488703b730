"""Pixel preprocessing of video frames without torchvision.

transformers' video processors all need torchvision, which does not import beside the CPU torch
build tubescope is tested with (README "Install"), so the adapters turn ``(F, H, W, 3)`` uint8 RGB frames into the vision
tower's input here, with Pillow and numpy, the same way transformers' PIL image processors do:

* :func:`resize_frames`: Pillow resize of uint8 frames (bicubic by default), like
  ``PilBackend.resize``;
* :func:`rescale_normalize`: ``x * rescale_factor`` computed in float64 and cast to float32, then
  ``(x - mean) / std`` in float32, like ``PilBackend.rescale`` + ``normalize``;
* :func:`qwen_patchify`: Qwen2-VL's flat patch layout (bit-exact against
  ``Qwen2VLImageProcessorPil`` for images, tested);
* :class:`PreprocessorConfig`: the fields of a checkpoint's ``preprocessor_config.json`` /
  ``video_preprocessor_config.json`` that matter, read as plain JSON.

Example:
    >>> import numpy as np
    >>> frames = np.zeros((4, 112, 112, 3), dtype=np.uint8)
    >>> x = rescale_normalize(frames, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    >>> x.shape, float(x[0, 0, 0, 0])
    ((4, 3, 112, 112), -1.0)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tubescope.errors import ModelUnavailableError
from tubescope.jsonio import read_json

__all__ = [
    "PreprocessorConfig",
    "check_frames",
    "resize_frames",
    "center_crop_frames",
    "shortest_edge_size",
    "rescale_normalize",
    "qwen_patchify",
    "qwen_frame_size",
]

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class PreprocessorConfig:
    """The preprocessing fields of a checkpoint, read from its JSON files.

    ``video_preprocessor_config.json`` wins over ``preprocessor_config.json`` field by field;
    missing fields keep the defaults given by the adapter. ``raw`` keeps the merged JSON.
    """

    image_mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    image_std: tuple[float, float, float] = OPENAI_CLIP_STD
    rescale_factor: float = 1 / 255
    resample: int = 3  # PIL.Image.BICUBIC
    size: dict[str, int] = field(default_factory=dict)
    crop_size: dict[str, int] = field(default_factory=dict)
    do_center_crop: bool = False
    min_pixels: int | None = None
    max_pixels: int | None = None
    patch_size: int | None = None
    temporal_patch_size: int | None = None
    merge_size: int | None = None
    sources: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dir(cls, directory: str | os.PathLike[str], **defaults: Any) -> PreprocessorConfig:
        """Read ``preprocessor_config.json`` then ``video_preprocessor_config.json`` of ``directory``.

        ``defaults`` give the values of fields no file sets.
        """
        merged: dict[str, Any] = {}
        sources = []
        for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
            path = os.path.join(os.fspath(directory), name)
            if os.path.isfile(path):
                data = read_json(path, lambda problem, path=path: ModelUnavailableError(f"{path}: {problem}"))
                if not isinstance(data, dict):
                    raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
                merged.update({k: v for k, v in data.items() if v is not None})
                sources.append(path)
        return cls.from_dict(merged, sources=tuple(sources), **defaults)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], sources: tuple[str, ...] = (), **defaults: Any
    ) -> PreprocessorConfig:
        values: dict[str, Any] = dict(defaults)
        for key in ("image_mean", "image_std"):
            if key in data:
                value = data[key]
                value = [value] * 3 if isinstance(value, (int, float)) else list(value)
                if len(value) != 3:
                    raise ValueError(
                        f"preprocessor config field {key!r} must have 3 values, got {value!r}"
                    )
                values[key] = tuple(float(v) for v in value)
        for key in ("rescale_factor",):
            if key in data:
                values[key] = float(data[key])
        for key in (
            "resample",
            "patch_size",
            "temporal_patch_size",
            "merge_size",
            "min_pixels",
            "max_pixels",
        ):
            if key in data and data[key] is not None:
                values[key] = int(data[key])
        if "do_center_crop" in data:
            values["do_center_crop"] = bool(data["do_center_crop"])
        for key in ("size", "crop_size"):
            if key in data and data[key] is not None:
                value = data[key]
                if isinstance(value, int):
                    value = {"shortest_edge": value}
                if not isinstance(value, dict):
                    raise ValueError(
                        f"preprocessor config field {key!r} must be an object or int, got {value!r}"
                    )
                values[key] = {k: int(v) for k, v in value.items() if v is not None}
        # Qwen2-VL stores the pixel budget either as min/max_pixels or as size.shortest/longest_edge.
        size = values.get("size", {})
        if "min_pixels" not in data and "shortest_edge" in size and "longest_edge" in size:
            values["min_pixels"] = size["shortest_edge"]
        if "max_pixels" not in data and "longest_edge" in size and "shortest_edge" in size:
            values["max_pixels"] = size["longest_edge"]
        return cls(sources=sources, raw=dict(data), **values)


def check_frames(frames: Any) -> np.ndarray:
    """Validate ``(F, H, W, 3)`` uint8 RGB frames (a list of ``(H, W, 3)`` arrays is stacked)."""
    if isinstance(frames, (list, tuple)):
        frames = np.stack([np.asarray(f) for f in frames])
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3) RGB, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError("frames is empty: at least one frame is needed")
    return frames


def resize_frames(frames: np.ndarray, height: int, width: int, resample: int = 3) -> np.ndarray:
    """Resize ``(F, H, W, 3)`` uint8 frames with Pillow (``resample`` is a ``PIL.Image`` filter id)."""
    from PIL import Image

    if frames.shape[1] == height and frames.shape[2] == width:
        # Pillow returns an exact copy for an identity resize; skip the round trip.
        return frames
    out = np.empty((frames.shape[0], height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = np.asarray(Image.fromarray(frame).resize((width, height), resample=resample))
    return out


def shortest_edge_size(height: int, width: int, shortest_edge: int) -> tuple[int, int]:
    """Output size that scales the shorter side to ``shortest_edge`` (transformers' rule, int truncation)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = shortest_edge, int(shortest_edge * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def center_crop_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Center-crop ``(F, H, W, 3)`` frames; the frames must be at least ``height x width``."""
    h, w = frames.shape[1:3]
    if h < height or w < width:
        raise ValueError(f"cannot center-crop {h}x{w} frames to {height}x{width}")
    top, left = (h - height) // 2, (w - width) // 2
    return frames[:, top : top + height, left : left + width]


def rescale_normalize(
    frames: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    rescale_factor: float = 1 / 255,
) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 -> ``(F, 3, H, W)`` float32 ``(x * rescale_factor - mean) / std``.

    The rescale is computed in float64 and cast to float32, the normalisation in float32: the
    same arithmetic as transformers' PIL image processors, so results match them bit for bit.
    """
    x = frames.transpose(0, 3, 1, 2)
    x = (x.astype(np.float64) * rescale_factor).astype(np.float32)
    mean_a = np.asarray(mean, dtype=np.float32)[None, :, None, None]
    std_a = np.asarray(std, dtype=np.float32)[None, :, None, None]
    return (x - mean_a) / std_a


def qwen_frame_size(
    height: int,
    width: int,
    *,
    patch_size: int = 14,
    merge_size: int = 2,
    min_pixels: int = 128 * 28 * 28,
    max_pixels: int = 768 * 28 * 28,
) -> tuple[int, int]:
    """Qwen's ``smart_resize``: both sides multiples of ``patch_size * merge_size``, pixels in budget."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    return smart_resize(
        height, width, factor=patch_size * merge_size, min_pixels=min_pixels, max_pixels=max_pixels
    )


def qwen_patchify(
    pixels: np.ndarray,
    *,
    patch_size: int = 14,
    merge_size: int = 2,
    temporal_patch_size: int = 2,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Qwen2-VL patch layout of normalised frames.

    Args:
        pixels: ``(T, C, H, W)`` float32, ``H`` and ``W`` multiples of ``patch_size * merge_size``.
            ``T`` is padded to a multiple of ``temporal_patch_size`` by repeating the last frame,
            as the official processor does.

    Returns:
        ``(grid_t * grid_h * grid_w, C * temporal_patch_size * patch_size**2)`` patches, in
        the order the vision tower expects (row-major over ``(t, h/m, w/m, m, m)``), and the
        grid ``(grid_t, grid_h, grid_w)`` in patches.
    """
    t, c, h, w = pixels.shape
    factor = patch_size * merge_size
    if h % factor or w % factor:
        raise ValueError(
            f"frame size {h}x{w} is not a multiple of {factor} (patch {patch_size} x merge {merge_size})"
        )
    if t % temporal_patch_size:
        pad = temporal_patch_size - t % temporal_patch_size
        pixels = np.concatenate([pixels, np.repeat(pixels[-1:], pad, axis=0)], axis=0)
        t = pixels.shape[0]
    grid_t, grid_h, grid_w = t // temporal_patch_size, h // patch_size, w // patch_size
    patches = pixels.reshape(
        grid_t,
        temporal_patch_size,
        c,
        grid_h // merge_size,
        merge_size,
        patch_size,
        grid_w // merge_size,
        merge_size,
        patch_size,
    )
    # -> (grid_t, gh/m, gw/m, m, m, C, T, p, p)
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    flat = patches.reshape(
        grid_t * grid_h * grid_w, c * temporal_patch_size * patch_size * patch_size
    )
    return np.ascontiguousarray(flat), (grid_t, grid_h, grid_w)
