"""OWLv2 through transformers: the detector named ``"owlv2"``.

OWLv2 scores every image patch against each text query; it pads the frame at the bottom and
right to a square before resizing, so its boxes are relative to that square
(:func:`~tubescope.proposals.rescale_boxes` with ``padded_square=True``). Image preprocessing
uses transformers' PIL image processor, which needs no torchvision.

Example:
    >>> from tubescope.proposals import resolve_proposals
    >>> resolve_proposals("detector:owlv2").detector.model_id
    'google/owlv2-base-patch16-ensemble'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from tubescope.proposals.detectors.base import (
    TextPromptedDetector,
    register_detector,
    rescale_boxes,
)

if TYPE_CHECKING:
    import supervision as sv

__all__ = ["Owlv2Detector", "OWLV2_DEFAULT"]

#: Default checkpoint.
OWLV2_DEFAULT = "google/owlv2-base-patch16-ensemble"


@register_detector("owlv2")
class Owlv2Detector(TextPromptedDetector):
    """OWLv2 through transformers (``Owlv2ForObjectDetection``).

    Args:
        model: hub id or directory (default ``google/owlv2-base-patch16-ensemble``).
        prompt: one or more text queries (``"person"``, ``["person", "car"]``); None lets
            :class:`DetectorProposals` set the query's head noun.
        threshold: keep a box when its best query probability is above this (default 0.1,
            transformers' default; OWLv2 scores run lower than Grounding DINO's).
        nms_threshold: class-agnostic NMS IoU (default 0.5: OWLv2 predicts one box per image
            patch, so neighbouring patches repeat objects); None disables it.

    Example:
        >>> from tubescope.proposals import Owlv2Detector
        >>> Owlv2Detector(prompt=["person", "dog"]).phrases
        ('person', 'dog')
    """

    name = "owlv2"
    _what = "OWLv2 model"

    def __init__(
        self,
        model: str | os.PathLike[str] = OWLV2_DEFAULT,
        *,
        prompt: str | Sequence[str] | None = None,
        threshold: float = 0.1,
        device: str = "cpu",
        batch_size: int = 4,
        nms_threshold: float | None = 0.5,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            model,
            prompt=prompt,
            device=device,
            batch_size=batch_size,
            nms_threshold=nms_threshold,
            model_kwargs=model_kwargs,
        )
        self.threshold = float(threshold)

    def _classes(self) -> tuple[Any, Any]:
        from transformers import Owlv2ForObjectDetection
        from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil

        return Owlv2ForObjectDetection, Owlv2ImageProcessorPil

    def _detect(self, images: list[np.ndarray]) -> list[sv.Detections]:
        import torch

        parts = self._parts
        assert self.phrases is not None
        length = int(parts.model.config.text_config.max_position_embeddings)
        with parts.lock:
            text = parts.tokenizer(
                list(self.phrases) * len(images),
                padding="max_length",
                truncation=True,
                max_length=length,
                return_tensors="pt",
            )
            pixels = parts.image_processor(images=images, return_tensors="pt")
            with torch.inference_mode():
                out = parts.model(
                    input_ids=text["input_ids"].to(self.device),
                    attention_mask=text["attention_mask"].to(self.device),
                    pixel_values=pixels["pixel_values"].to(self.device, parts.model.dtype),
                )
            logits = out.logits.float().cpu().numpy()
            pred_boxes = out.pred_boxes.float().cpu().numpy()
        return [
            self.postprocess(logits[b], pred_boxes[b], images[b].shape[1], images[b].shape[0])
            for b in range(len(images))
        ]

    def postprocess(
        self, logits: np.ndarray, pred_boxes: np.ndarray, width: int, height: int
    ) -> sv.Detections:
        """One image's raw outputs -> detections.

        ``logits`` ``(patches, queries)``; ``pred_boxes`` ``(patches, 4)``, normalised
        ``cx, cy, w, h`` relative to the padded square image.
        """
        with np.errstate(over="ignore"):
            probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        scores = probs.max(axis=1)
        class_ids = probs.argmax(axis=1)
        keep = scores > self.threshold
        boxes = rescale_boxes(pred_boxes[keep], width, height, padded_square=True)
        return self._detections(boxes, scores[keep], class_ids[keep])
