"""Grounding DINO through transformers: the detector named ``"grounding-dino"``.

The paper made its HC-STVG proposals with Grounding DINO at box and text thresholds of 0.4,
our defaults. It did not say which checkpoint; ours is ``IDEA-Research/grounding-dino-tiny``
(``"detector:grounding-dino@IDEA-Research/grounding-dino-base"`` picks another). Image
preprocessing uses transformers' PIL image processor, which needs no torchvision.

Example:
    >>> from tubescope.proposals import resolve_proposals
    >>> resolve_proposals("detector:grounding-dino").detector.box_threshold
    0.4
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from tubescope.errors import ProposalError
from tubescope.proposals.detectors.base import (
    TextPromptedDetector,
    register_detector,
    rescale_boxes,
)

if TYPE_CHECKING:
    import supervision as sv

__all__ = ["GroundingDinoDetector", "GROUNDING_DINO_DEFAULT"]

#: Default checkpoint (the paper does not say which Grounding DINO it used).
GROUNDING_DINO_DEFAULT = "IDEA-Research/grounding-dino-tiny"


@register_detector("grounding-dino")
class GroundingDinoDetector(TextPromptedDetector):
    """Grounding DINO through transformers (``GroundingDinoForObjectDetection``).

    Args:
        model: hub id or directory (default ``IDEA-Research/grounding-dino-tiny``).
        prompt: a noun (``"person"``), phrases separated by dots (``"person. car."``) or a
            list of phrases; None lets :class:`DetectorProposals` set the query's head noun.
        box_threshold: keep a box when its best token probability is above this (paper 0.4).
        text_threshold: tokens above this form the box's matched text, ``data["phrase"]``
            (paper 0.4; as in the original Grounding DINO it does not remove boxes).
        device, batch_size: where and how many frames per forward pass.
        nms_threshold: optional class-agnostic NMS IoU (None, as in the paper: no NMS).

    Each box's ``class_id`` is the prompt phrase whose tokens score highest and
    ``data["class_name"]`` that phrase. Boxes are in the original frame's pixels.

    Example:
        >>> from tubescope.proposals import GroundingDinoDetector
        >>> GroundingDinoDetector(prompt="person").prompt
        'person.'
    """

    name = "grounding-dino"
    _what = "Grounding DINO model"

    def __init__(
        self,
        model: str | os.PathLike[str] = GROUNDING_DINO_DEFAULT,
        *,
        prompt: str | Sequence[str] | None = None,
        box_threshold: float = 0.4,
        text_threshold: float = 0.4,
        device: str = "cpu",
        batch_size: int = 4,
        nms_threshold: float | None = None,
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
        self.box_threshold = float(box_threshold)
        self.text_threshold = float(text_threshold)

    def _classes(self) -> tuple[Any, Any]:
        from transformers import GroundingDinoForObjectDetection
        from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
            GroundingDinoImageProcessorPil,
        )

        return GroundingDinoForObjectDetection, GroundingDinoImageProcessorPil

    def encode_prompt(self) -> tuple[list[int], np.ndarray]:
        """Token ids of the prompt (``[CLS] p1 . p2 . [SEP]``) and each token's phrase (or -1)."""
        assert self.phrases is not None and self.prompt is not None
        tokenizer = self._parts.tokenizer
        full = [int(i) for i in tokenizer(self.prompt)["input_ids"]]
        phrase_of = np.full(len(full), -1, dtype=np.int64)
        # each phrase's tokens, found in order inside the whole prompt's tokens
        position = 0
        for i, phrase in enumerate(self.phrases):
            ids = [int(t) for t in tokenizer(phrase, add_special_tokens=False)["input_ids"]]
            at = next(
                (
                    k
                    for k in range(position, len(full) - len(ids) + 1)
                    if full[k : k + len(ids)] == ids
                ),
                None,
            )
            if at is None or not ids:
                raise ProposalError(
                    f"cannot locate the tokens of phrase {phrase!r} in the prompt {self.prompt!r}"
                )
            phrase_of[at : at + len(ids)] = i
            position = at + len(ids)
        limit = int(getattr(self._parts.model.config, "max_text_len", 256))
        if len(full) > limit:
            raise ProposalError(
                f"prompt {self.prompt!r} is {len(full)} tokens; "
                f"Grounding DINO takes at most {limit}"
            )
        return full, phrase_of

    def _detect(self, images: list[np.ndarray]) -> list[sv.Detections]:
        import torch

        parts = self._parts
        ids, phrase_of = self.encode_prompt()
        with parts.lock:
            pixels = parts.image_processor(images=images, return_tensors="pt")
            n = len(images)
            input_ids = torch.tensor([ids] * n, dtype=torch.long)
            with torch.inference_mode():
                out = parts.model(
                    pixel_values=pixels["pixel_values"].to(self.device, parts.model.dtype),
                    pixel_mask=pixels["pixel_mask"].to(self.device)
                    if "pixel_mask" in pixels
                    else None,
                    input_ids=input_ids.to(self.device),
                    attention_mask=torch.ones_like(input_ids).to(self.device),
                    token_type_ids=torch.zeros_like(input_ids).to(self.device),
                )
            logits = out.logits.float().cpu().numpy()
            pred_boxes = out.pred_boxes.float().cpu().numpy()
        return [
            self.postprocess(
                logits[b], pred_boxes[b], ids, phrase_of, images[b].shape[1], images[b].shape[0]
            )
            for b in range(n)
        ]

    def postprocess(
        self,
        logits: np.ndarray,
        pred_boxes: np.ndarray,
        input_ids: Sequence[int],
        phrase_of: np.ndarray,
        width: int,
        height: int,
    ) -> sv.Detections:
        """Raw outputs of one image -> detections in the original frame's pixels.

        ``logits`` ``(queries, max_text_len)`` (positions past the prompt are ignored),
        ``pred_boxes`` ``(queries, 4)`` normalised ``cx, cy, w, h``.
        """
        n_tok = len(input_ids)
        with np.errstate(over="ignore"):
            probs = 1.0 / (1.0 + np.exp(-logits[:, :n_tok].astype(np.float64)))
        scores = probs.max(axis=1) if n_tok else np.zeros(len(logits))
        keep = scores > self.box_threshold
        assert self.phrases is not None
        n_phr = len(self.phrases)
        per_phrase = np.zeros((len(logits), n_phr))
        for p in range(n_phr):
            cols = np.flatnonzero(phrase_of[:n_tok] == p)
            if cols.size:
                per_phrase[:, p] = probs[:, cols].max(axis=1)
        class_ids = per_phrase.argmax(axis=1) if n_phr else np.zeros(len(logits), dtype=int)
        tokenizer = self._parts.tokenizer
        matched = []
        for q in np.flatnonzero(keep):
            # as the original: tokens above text_threshold, without the first and last token
            above = [i for i in range(1, n_tok - 1) if probs[q, i] > self.text_threshold]
            matched.append(tokenizer.decode([input_ids[i] for i in above]).strip() if above else "")
        boxes = rescale_boxes(pred_boxes[keep], width, height)
        return self._detections(
            boxes, scores[keep], class_ids[keep], {"phrase": np.array(matched, dtype=object)}
        )
