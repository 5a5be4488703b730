"""Detector + tracker proposals, and the built-in open-vocabulary detectors.

:class:`DetectorProposals` runs a detector every ``stride`` frames (10, like the paper) and
links its detections into tracks with ByteTrack (:mod:`tubescope.proposals.tracking`). A
detector is any callable ``detector(frame) -> supervision.Detections`` taking an RGB ``uint8``
``(height, width, 3)`` frame and returning boxes in its pixels, so ultralytics, rfdetr or your
own model plug in directly (optionally with ``detect_batch(frames) -> list[Detections]``).

Two text-prompted detectors are built in, through transformers:

* :class:`GroundingDinoDetector` (``GroundingDinoForObjectDetection``; paper thresholds:
  box 0.4, text 0.4);
* :class:`Owlv2Detector` (``Owlv2ForObjectDetection``).

Their prompt comes from the query's head noun (:func:`~tubescope.proposals.detector_prompt`)
unless one is given. Weights load with ``from_pretrained(name_or_path)`` on first use; with no
cached weights and no network (``HF_HUB_OFFLINE`` set, or the hub unreachable) loading fails
at once with :class:`~tubescope.errors.ModelUnavailableError` saying what to download. Image
preprocessing uses transformers' PIL image processors, which need no torchvision.

Example:
    >>> import numpy as np, supervision as sv
    >>> from tubescope import Video
    >>> from tubescope.proposals import DetectorProposals
    >>> video = Video(np.zeros((30, 48, 64, 3), np.uint8))
    >>> def detector(frame):  # one fixed box
    ...     return sv.Detections(xyxy=np.array([[8.0, 8, 24, 24]]), confidence=np.array([0.9]))
    >>> source = DetectorProposals(detector, stride=10)
    >>> [(t.track_id, t.frames.tolist()) for t in source.tracks(video)]
    [(0, [0, 10, 20])]
    >>> source.name
    'detector:detector'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from tubescope.errors import ModelUnavailableError, ProposalError
from tubescope.hub import hub_endpoint, hub_offline, probe_hub
from tubescope.proposals.base import VideoCache, select_tracks
from tubescope.proposals.prompt import detector_prompt
from tubescope.proposals.tracking import FrameDetections, TrackerConfig, link_detections

if TYPE_CHECKING:
    import supervision as sv

    from tubescope.types import Track
    from tubescope.video import Video

__all__ = [
    "Detector",
    "DetectorProposals",
    "GroundingDinoDetector",
    "Owlv2Detector",
    "rescale_boxes",
    "load_pretrained",
    "GROUNDING_DINO_DEFAULT",
    "OWLV2_DEFAULT",
]

#: Default checkpoints (the paper does not say which Grounding DINO it used).
GROUNDING_DINO_DEFAULT = "IDEA-Research/grounding-dino-tiny"
OWLV2_DEFAULT = "google/owlv2-base-patch16-ensemble"


@runtime_checkable
class Detector(Protocol):
    """A per-frame detector: RGB ``uint8`` ``(h, w, 3)`` frame -> ``supervision.Detections``.

    Boxes are xyxy pixels of that frame; ``confidence`` (optional) becomes the track scores,
    ``data["class_name"]`` (or ``class_id``) the track label, ``mask`` (optional) the track
    masks. A detector may also define ``detect_batch(frames)`` and ``name``.
    """

    def __call__(self, frame: np.ndarray) -> sv.Detections: ...


# ---------------------------------------------------------------------------- boxes
def rescale_boxes(
    boxes: np.ndarray | Sequence[Sequence[float]],
    width: int,
    height: int,
    *,
    padded_square: bool = False,
    clip: bool = True,
) -> np.ndarray:
    """Normalised ``(cx, cy, w, h)`` boxes -> xyxy pixels of the original ``width x height`` frame.

    Grounding DINO predicts boxes relative to the image (``padded_square=False``). OWLv2 pads
    the image at the bottom/right to a square of side ``max(width, height)`` before resizing,
    so its boxes are relative to that square (``padded_square=True``). With ``clip`` the
    boxes are clipped to the frame.

    Example:
        >>> from tubescope.proposals import rescale_boxes
        >>> rescale_boxes([[0.5, 0.5, 0.5, 0.5]], 200, 100).tolist()
        [[50.0, 25.0, 150.0, 75.0]]
        >>> rescale_boxes([[0.5, 0.25, 0.5, 0.5]], 200, 100, padded_square=True).tolist()
        [[50.0, 0.0, 150.0, 100.0]]
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if padded_square:
        sx = sy = float(max(width, height))
    else:
        sx, sy = float(width), float(height)
    cx, cy, w, h = b[:, 0] * sx, b[:, 1] * sy, b[:, 2] * sx, b[:, 3] * sy
    out = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    if clip:
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


# ---------------------------------------------------------------------------- loading
def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~"))
        or name.count("/") > 1
        or os.sep != "/"
        and os.sep in name
    )


def load_pretrained(
    loader: Callable[..., Any], name_or_path: str | os.PathLike[str], what: str, **kwargs: Any
) -> Any:
    """``loader(name_or_path, **kwargs)`` (a ``from_pretrained``) that fails fast and clearly.

    A local directory is loaded as is. A hub id is first looked up in the local cache; when it
    is not there and ``HF_HUB_OFFLINE`` is set, or the hub cannot be reached, this raises
    :class:`ModelUnavailableError` at once (no retries) saying what to download.

    Example:
        >>> from tubescope.errors import ModelUnavailableError
        >>> from tubescope.proposals import load_pretrained
        >>> def loader(name, **kw):
        ...     raise OSError("not found")
        >>> try:
        ...     load_pretrained(loader, "/no/such/dir", "Grounding DINO model")
        ... except ModelUnavailableError as err:
        ...     print(str(err).splitlines()[0])
        Grounding DINO model: /no/such/dir is not a directory
    """
    name = os.fspath(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        try:
            return loader(str(path), **kwargs)
        except (OSError, ValueError) as err:
            raise ModelUnavailableError(
                f"{what}: cannot load from the directory {path} ({err})"
            ) from None
    if path.exists() or _looks_like_path(name):
        raise ModelUnavailableError(
            f"{what}: {name} is not a directory\n"
            "pass a hub id (e.g. IDEA-Research/grounding-dino-tiny) or a directory written "
            "by save_pretrained()"
        )
    try:
        return loader(name, local_files_only=True, **kwargs)
    except (OSError, ValueError):
        pass
    fetch = f"huggingface-cli download {name}  (or: hf download {name})"
    if hub_offline():
        raise ModelUnavailableError(
            f"{what}: {name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set.\n"
            f"Download it on a machine with network access: {fetch}, then copy the cache "
            "(HF_HOME) here, or pass the model's directory instead of its id."
        )
    unreachable = probe_hub(name)
    if unreachable is not None:
        raise ModelUnavailableError(
            f"{what}: {name!r} is not in the local Hugging Face cache and {hub_endpoint()} "
            f"cannot be reached ({unreachable}).\nDownload it where there is network access: "
            f"{fetch}, or pass the model's directory."
        )
    try:
        return loader(name, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(f"{what}: cannot load {name!r} ({err})") from None


# ---------------------------------------------------------------------------- prompts
def _phrases(prompt: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(prompt, str):
        parts = [p.strip() for p in prompt.split(".")]
    else:
        parts = [str(p).strip().rstrip(".").strip() for p in prompt]
    phrases = tuple(p.lower() for p in parts if p)
    if not phrases:
        raise ValueError(f"empty detector prompt {prompt!r}")
    return phrases


class _Components:
    """Model, tokenizer and image processor, loaded once and shared by prompt copies."""

    def __init__(
        self, model: Any = None, tokenizer: Any = None, image_processor: Any = None
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self.model is not None


class _TextPromptedDetector:
    """Shared machinery of the transformers detectors (loading, prompts, batching)."""

    name = "detector"
    _what = "detector"

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        prompt: str | Sequence[str] | None = None,
        device: str = "cpu",
        batch_size: int = 4,
        nms_threshold: float | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.model_id = os.fspath(model)
        self.phrases: tuple[str, ...] | None = None if prompt is None else _phrases(prompt)
        self.device = device
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size)
        if nms_threshold is not None and not 0 < nms_threshold <= 1:
            raise ValueError(f"nms_threshold must be in (0, 1] or None, got {nms_threshold!r}")
        self.nms_threshold = nms_threshold
        self.model_kwargs = dict(model_kwargs or {})
        self._parts = _Components()

    # -- construction -------------------------------------------------------
    @classmethod
    def from_components(
        cls, model: Any, tokenizer: Any, image_processor: Any, **kwargs: Any
    ) -> _TextPromptedDetector:
        """A detector around an already built model, tokenizer and image processor."""
        name = getattr(getattr(model, "config", None), "_name_or_path", "") or "<in-memory>"
        detector = cls(name, **kwargs)
        model.eval()
        detector._parts = _Components(model.to(detector.device), tokenizer, image_processor)
        return detector

    @property
    def prompt(self) -> str | None:
        """The text prompt as one string (``"person. car."``), or None when unset."""
        return None if self.phrases is None else ". ".join(self.phrases) + "."

    def with_prompt(self, prompt: str | Sequence[str]) -> _TextPromptedDetector:
        """A copy with another prompt that shares the loaded weights."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.phrases = _phrases(prompt)
        return clone

    def load(self) -> _TextPromptedDetector:
        """Load the weights now (they load on first use otherwise); returns self."""
        with self._parts.lock:
            if not self._parts.loaded:
                model, tokenizer, processor = self._load()
                model.eval()
                self._parts.model = model.to(self.device)
                self._parts.tokenizer = tokenizer
                self._parts.image_processor = processor
        return self

    def _load(self) -> tuple[Any, Any, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- detection ----------------------------------------------------------
    def __call__(self, frame: np.ndarray) -> sv.Detections:
        """Detect the prompt's phrases on one RGB frame."""
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Detect on several RGB frames (same or different sizes)."""
        if self.phrases is None:
            raise ProposalError(
                f"{type(self).__name__} has no prompt: pass prompt=..., or let the engine set one "
                "from the query (DetectorProposals.for_query)"
            )
        self.load()
        results: list[sv.Detections] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = [self._check_frame(f) for f in frames[start : start + self.batch_size]]
            results.extend(self._detect(chunk))
        if self.nms_threshold is not None:
            results = [
                d.with_nms(threshold=self.nms_threshold, class_agnostic=True) if len(d) else d
                for d in results
            ]
        return results

    @staticmethod
    def _check_frame(frame: np.ndarray) -> np.ndarray:
        image = np.asarray(frame)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"expected an RGB uint8 (height, width, 3) frame, got {image.shape} {image.dtype}"
            )
        return image

    def _detect(self, images: list[np.ndarray]) -> list[sv.Detections]:  # pragma: no cover
        raise NotImplementedError

    def _detections(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        class_ids: np.ndarray,
        extra: dict[str, Any] | None = None,
    ) -> sv.Detections:
        import supervision as sv

        assert self.phrases is not None
        data: dict[str, Any] = {
            "class_name": np.array([self.phrases[c] for c in class_ids], dtype=object)
        }
        data.update(extra or {})
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return sv.Detections(
            xyxy=boxes[valid] if valid.any() else np.zeros((0, 4)),
            confidence=scores[valid].astype(np.float32),
            class_id=class_ids[valid].astype(int),
            data={k: np.asarray(v, dtype=object)[valid] for k, v in data.items()},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r}, prompt={self.prompt!r})"


class GroundingDinoDetector(_TextPromptedDetector):
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

    def _load(self) -> tuple[Any, Any, Any]:
        from transformers import AutoTokenizer, GroundingDinoForObjectDetection
        from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
            GroundingDinoImageProcessorPil,
        )

        model = load_pretrained(
            GroundingDinoForObjectDetection.from_pretrained,
            self.model_id,
            self._what,
            **self.model_kwargs,
        )
        tokenizer = load_pretrained(
            AutoTokenizer.from_pretrained, self.model_id, f"{self._what} tokenizer"
        )
        processor = load_pretrained(
            GroundingDinoImageProcessorPil.from_pretrained,
            self.model_id,
            f"{self._what} image processor",
        )
        return model, tokenizer, processor

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
                raise ValueError(
                    f"cannot locate the tokens of phrase {phrase!r} in the prompt {self.prompt!r}"
                )
            phrase_of[at : at + len(ids)] = i
            position = at + len(ids)
        limit = int(getattr(self._parts.model.config, "max_text_len", 256))
        if len(full) > limit:
            raise ValueError(
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


class Owlv2Detector(_TextPromptedDetector):
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

    def _load(self) -> tuple[Any, Any, Any]:
        from transformers import AutoTokenizer, Owlv2ForObjectDetection
        from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil

        model = load_pretrained(
            Owlv2ForObjectDetection.from_pretrained, self.model_id, self._what, **self.model_kwargs
        )
        tokenizer = load_pretrained(
            AutoTokenizer.from_pretrained, self.model_id, f"{self._what} tokenizer"
        )
        processor = load_pretrained(
            Owlv2ImageProcessorPil.from_pretrained, self.model_id, f"{self._what} image processor"
        )
        return model, tokenizer, processor

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


# ---------------------------------------------------------------------------- proposals
def _detector_name(detector: Any) -> str:
    name = getattr(detector, "name", None)
    if isinstance(name, str) and name:
        return name
    name = getattr(detector, "__name__", None) or type(detector).__name__
    return str(name)


class DetectorProposals:
    """Tracks from a detector run every ``stride`` frames, linked by ByteTrack.

    Args:
        detector: a callable ``frame -> supervision.Detections`` (RGB ``uint8`` frame, xyxy
            pixel boxes), e.g. :class:`GroundingDinoDetector` or your own model.
        stride: run the detector on frames ``0, stride, 2*stride, ...`` (paper: 10).
        tracker: linking settings (:class:`~tubescope.proposals.TrackerConfig`: lost-track
            time, IoU, max gap to interpolate, min detections per track).
        prompt: a fixed text prompt for a text-prompted detector (one with ``with_prompt``).
            Without it (and without a prompt set on the detector) :meth:`for_query` prompts
            with the query's head noun (:func:`~tubescope.proposals.detector_prompt`).
        batch_size: frames per ``detect_batch`` call when the detector has one.
        progress: optional ``progress(done, total)`` callback over detected frames.

    The whole video is detected and tracked once (cached per video and prompt), so asking for
    other ``frames`` never changes track ids. ``name`` is ``"detector:<detector name>"``.

    Example:
        >>> from tubescope.proposals import DetectorProposals, GroundingDinoDetector, bind_query
        >>> source = DetectorProposals(GroundingDinoDetector(box_threshold=0.35), stride=5)
        >>> bind_query(source, "the man in the red jacket").detector.prompt
        'person.'
    """

    def __init__(
        self,
        detector: Detector | Callable[[np.ndarray], Any],
        *,
        stride: int = 10,
        tracker: TrackerConfig | None = None,
        prompt: str | Sequence[str] | None = None,
        batch_size: int = 8,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if not callable(detector):
            raise TypeError(
                "detector must be callable (frame -> supervision.Detections), "
                f"got {type(detector).__name__}"
            )
        if stride < 1:
            raise ValueError(f"stride must be at least 1 frame, got {stride}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if prompt is not None:
            if not hasattr(detector, "with_prompt"):
                raise TypeError(
                    f"{_detector_name(detector)} takes no text prompt (it has no with_prompt())"
                )
            detector = detector.with_prompt(prompt)
        self.detector = detector
        self.stride = int(stride)
        self.tracker = tracker or TrackerConfig()
        self.batch_size = int(batch_size)
        self.progress = progress
        self._fixed_prompt = getattr(detector, "prompt", None) is not None
        self._cache = VideoCache()

    @property
    def name(self) -> str:
        return f"detector:{_detector_name(self.detector)}"

    def __repr__(self) -> str:
        return f"DetectorProposals({self.detector!r}, stride={self.stride})"

    def for_query(self, query: str) -> DetectorProposals:
        """This source prompted with the query's head noun (itself when the prompt is fixed)."""
        if self._fixed_prompt or not hasattr(self.detector, "with_prompt"):
            return self
        prompt = detector_prompt(query)
        if getattr(self.detector, "phrases", None) == (prompt,) or self.detector.prompt == prompt:
            return self
        clone = object.__new__(DetectorProposals)
        clone.__dict__.update(self.__dict__)
        clone.detector = self.detector.with_prompt(prompt)  # type: ignore[union-attr]
        return clone  # shares the cache: its keys include the prompt

    def tracks(self, video: Video, frames: Sequence[int] | np.ndarray | None = None) -> list[Track]:
        """Tracks of ``video`` present on at least one of ``frames`` (all when None)."""
        extra = (getattr(self.detector, "prompt", None), self.stride)
        tracks = self._cache.get(video, extra)
        if tracks is None:
            detected = self.detect(video)
            tracks = link_detections(detected, fps=float(video.fps), config=self.tracker)
            self._cache.put(video, tracks, extra)
        return select_tracks(tracks, frames)

    def detect(self, video: Video) -> list[FrameDetections]:
        """Run the detector on frames ``0, stride, ...`` of ``video`` (boxes clipped to it)."""
        total = len(range(0, video.frame_count, self.stride))
        results: list[FrameDetections] = []
        batch_fn = getattr(self.detector, "detect_batch", None)
        pending: list[Any] = []

        def flush() -> None:
            images = [f.image for f in pending]
            outputs = (
                batch_fn(images) if batch_fn is not None else [self.detector(img) for img in images]
            )
            if len(outputs) != len(pending):
                raise ProposalError(
                    f"{self.name}: detect_batch returned {len(outputs)} results "
                    f"for {len(pending)} frames"
                )
            for frame, dets in zip(pending, outputs):
                results.append(
                    FrameDetections(
                        frame.index, frame.time, self._checked(dets, frame.index, video)
                    )
                )
            pending.clear()
            if self.progress is not None:
                self.progress(len(results), total)

        for frame in self._frames(video):
            pending.append(frame)
            if len(pending) >= (self.batch_size if batch_fn is not None else 1):
                flush()
        if pending:
            flush()
        return results

    def _frames(self, video: Video) -> Iterator[Any]:
        return video.iter_frames(0, video.frame_count, self.stride)

    def _checked(self, dets: Any, frame: int, video: Video) -> sv.Detections:
        import supervision as sv

        if not isinstance(dets, sv.Detections):
            raise ProposalError(
                f"{self.name}: the detector returned {type(dets).__name__} on frame {frame}, "
                "expected supervision.Detections"
            )
        if len(dets) == 0:
            return dets
        xyxy = np.asarray(dets.xyxy, dtype=np.float64)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4 or not np.isfinite(xyxy).all():
            raise ProposalError(
                f"{self.name}: frame {frame}: boxes must be finite (n, 4) xyxy pixels"
            )
        clipped = xyxy.copy()
        clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, video.width)
        clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, video.height)
        valid = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
        out = dets[valid] if not valid.all() else dets[:]
        out.xyxy = clipped[valid]
        if out.mask is not None and out.mask.shape[1:] != (video.height, video.width):
            raise ProposalError(
                f"{self.name}: frame {frame}: masks are {out.mask.shape[2]}x{out.mask.shape[1]}, "
                f"the video is {video.width}x{video.height}"
            )
        return out
