"""What the per-frame video adapters share (LLaVA-OneVision, LLaVA-NeXT-Video, InternVL):
square per-frame pixels and vision-tower features.

Each frame is resized to the vision tower's square input the way the checkpoint's
preprocessor config says: ``size = {height, width}`` squashes the frame to that size
(LLaVA-OneVision's video processor); ``size = {shortest_edge}`` scales the short side and then
center-crops to ``crop_size`` when ``do_center_crop`` is set (CLIP-style, LLaVA-NeXT-Video).
Then ``x / 255`` and ``(x - mean) / std`` with the checkpoint's mean/std. The result must be
``image_size x image_size`` of the vision config (the tower's position embeddings are fixed).

Vision features: ``vision_tower(pixels, output_hidden_states=True).hidden_states[layer]`` for
the config's ``vision_feature_layer`` (a list concatenates several layers), minus the CLS token
for the ``"default"`` select strategy: ``(F, S*S, C)`` with ``S = image_size // patch_size``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tubescope.engine.backends.adapter import TransformersBackend
from tubescope.engine.backends.pixels import (
    center_crop_frames,
    rescale_normalize,
    resize_frames,
    shortest_edge_size,
)

__all__ = ["LlavaVideoBackend"]


def _square(value: Any, name: str, model_id: str) -> int:
    """An int, or the common value of a square ``(h, w)`` pair."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"{model_id}: vision config {name}={value!r} is not square")
        value = value[0]
    return int(value)


class LlavaVideoBackend(TransformersBackend):
    """Base of the LLaVA-OneVision and LLaVA-NeXT-Video adapters."""

    @property
    def image_size(self) -> int:
        return _square(self.model.config.vision_config.image_size, "image_size", self.model_id)

    @property
    def patches_per_side(self) -> int:
        return self.image_size // _square(
            self.model.config.vision_config.patch_size, "patch_size", self.model_id
        )

    def pixel_values(self, frames: np.ndarray) -> np.ndarray:
        """``(F, 3, S, S)`` float32 vision-tower input for ``(F, H, W, 3)`` uint8 frames."""
        pre = self.preprocessor
        size = pre.size
        if "height" in size and "width" in size:
            frames = resize_frames(frames, size["height"], size["width"], pre.resample)
        elif "shortest_edge" in size:
            h, w = shortest_edge_size(frames.shape[1], frames.shape[2], size["shortest_edge"])
            frames = resize_frames(frames, h, w, pre.resample)
        else:
            frames = resize_frames(frames, self.image_size, self.image_size, pre.resample)
        if pre.do_center_crop:
            crop = pre.crop_size or {"height": self.image_size, "width": self.image_size}
            frames = center_crop_frames(frames, crop["height"], crop["width"])
        if frames.shape[1:3] != (self.image_size, self.image_size):
            raise ValueError(
                f"{self.model_id}: the preprocessor config (size={size}, crop_size={pre.crop_size}) gives "
                f"{frames.shape[1]}x{frames.shape[2]} frames, "
                f"the vision tower needs {self.image_size}x{self.image_size}"
            )
        return rescale_normalize(frames, pre.image_mean, pre.image_std, pre.rescale_factor)

    def vision_features(self, frames: np.ndarray) -> torch.Tensor:
        """``(F, S*S, C_vision)`` selected vision-tower features of the frames."""
        config = self.model.config
        tower = self.model.model.vision_tower
        pixels = torch.from_numpy(self.pixel_values(frames)).to(self.device, tower.dtype)
        out = tower(pixels, output_hidden_states=True, return_dict=True)
        layer: Any = config.vision_feature_layer
        if isinstance(layer, int):
            features = out.hidden_states[layer]
        else:
            features = torch.cat([out.hidden_states[i] for i in layer], dim=-1)
        if config.vision_feature_select_strategy == "default":
            features = features[:, 1:]
        expected = self.patches_per_side**2
        if features.shape[1] != expected:
            raise RuntimeError(
                f"{self.model_id}: vision tower gave {features.shape[1]} patch features per frame, "
                f"expected {self.patches_per_side}x{self.patches_per_side}"
            )
        return features
