"""What the per-frame video adapters share (LLaVA-OneVision, LLaVA-NeXT-Video, InternVL):
square per-frame pixels and vision-tower features.

Each frame becomes the vision tower's square input (``image_size x image_size``: the tower's
position embeddings are fixed) as the ``frame_fit`` option says, and the encoded video's
:attr:`~tubescope.engine.backends.base.VisualTokens.view` says which part of the frame the
token grid then covers:

* ``"squash"`` (the default of every family): the whole frame resized to the square, its
  aspect ratio not kept; the grid spans the whole frame (view ``(0, 0, 1, 1)``). This is what
  LLaVA-OneVision's and InternVL's processors do, and what the official grounding code does for
  every backbone (frames squashed to 336 x 336 first).
* ``"crop"``: the checkpoint processor's CLIP-style preprocessing when its config has
  ``size = {shortest_edge}`` and ``do_center_crop`` (LLaVA-NeXT-Video): the short side scaled
  to ``shortest_edge``, then the centre ``crop_size`` cut out. Only the middle is seen: a 16:9
  frame loses a quarter on each side (view ``(0.21875, 0, 0.78125, 1)``), and boxes outside
  the view get no coverage. Without those fields, the short side is scaled to the square.
* ``"pad"``: the whole frame with its aspect ratio, its long side scaled to the square and the
  rest filled with the mean colour (zeros after normalisation); the view reaches past the frame.

Then ``x / 255`` and ``(x - mean) / std`` with the checkpoint's mean/std.

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

__all__ = ["LlavaVideoBackend", "FRAME_FITS"]

#: the values of the ``frame_fit`` option (see the module docstring).
FRAME_FITS = ("squash", "crop", "pad")


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

    @property
    def frame_fit(self) -> str:
        fit = self.options.get("frame_fit", "squash")
        if fit not in FRAME_FITS:
            raise ValueError(
                f"{self.family} option frame_fit must be one of {list(FRAME_FITS)}, got {fit!r}"
            )
        return str(fit)

    def _fit(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
        """``((resized h, w), (top, left, bottom, right))``: the frame is resized to ``h x w``,
        then the square ``[top, bottom) x [left, right)`` of it is taken (outside it: padding)."""
        side = self.image_size
        fit = self.frame_fit
        if fit == "squash":
            return (side, side), (0, 0, side, side)
        if fit == "pad":
            scale = side / max(height, width)
            h, w = max(1, round(height * scale)), max(1, round(width * scale))
            top, left = -((side - h) // 2), -((side - w) // 2)
            return (h, w), (top, left, top + side, left + side)
        pre = self.preprocessor
        edge = pre.size.get("shortest_edge", side) if pre.do_center_crop else side
        h, w = shortest_edge_size(height, width, edge)
        crop = (pre.crop_size or {"height": side, "width": side}) if pre.do_center_crop else {
            "height": side, "width": side}  # fmt: skip
        ch, cw = crop["height"], crop["width"]
        if h < ch or w < cw:
            raise ValueError(f"cannot center-crop {h}x{w} frames to {ch}x{cw}")
        top, left = (h - ch) // 2, (w - cw) // 2
        return (h, w), (top, left, top + ch, left + cw)

    def frame_view(self, height: int, width: int) -> tuple[float, float, float, float]:
        """The part of a ``height x width`` frame the token grid covers (``frame_fit``)."""
        (h, w), (top, left, bottom, right) = self._fit(height, width)
        return left / w, top / h, right / w, bottom / h

    def pixel_values(self, frames: np.ndarray) -> np.ndarray:
        """``(F, 3, S, S)`` float32 vision-tower input for ``(F, H, W, 3)`` uint8 frames."""
        pre = self.preprocessor
        (h, w), (top, left, bottom, right) = self._fit(frames.shape[1], frames.shape[2])
        frames = resize_frames(frames, h, w, pre.resample)
        if self.frame_fit == "crop":
            frames = center_crop_frames(frames, bottom - top, right - left)
        if frames.shape[1:3] != (self.image_size, self.image_size) and self.frame_fit != "pad":
            raise ValueError(
                f"{self.model_id}: the preprocessor config (size={pre.size}, crop_size={pre.crop_size}) gives "
                f"{frames.shape[1]}x{frames.shape[2]} frames, "
                f"the vision tower needs {self.image_size}x{self.image_size}"
            )
        pixels = rescale_normalize(frames, pre.image_mean, pre.image_std, pre.rescale_factor)
        if self.frame_fit == "pad":
            side = self.image_size
            padded = np.zeros((pixels.shape[0], 3, side, side), dtype=np.float32)
            padded[:, :, -top : -top + h, -left : -left + w] = pixels
            pixels = padded
        return pixels

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
