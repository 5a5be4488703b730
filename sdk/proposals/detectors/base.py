"""What every detector shares: the protocol, the name registry, box rescaling, loading, and
the base of the text-prompted transformers detectors.

A detector is any callable ``detector(frame) -> supervision.Detections`` taking an RGB
``uint8`` ``(height, width, 3)`` frame and returning boxes in its pixels (:class:`Detector`), so
ultralytics, rfdetr or your own model plug in directly. A detector registered by name
(:func:`register_detector`) can be asked for with the spec ``"detector:NAME[@MODEL]"``
(:func:`tubescope.proposals.resolve_proposals`). The built-in ones subclass
:class:`TextPromptedDetector`, which loads a transformers checkpoint on first use
(:func:`tubescope.hub.resolve_checkpoint`: a directory, the local cache, or the hub when it
answers), turns a prompt into phrases and batches frames. docs/proposals.md describes them.

Example:
    >>> import numpy as np, supervision as sv
    >>> from tubescope.proposals.detectors import (
    ...     detector_names, register_detector, unregister_detector)
    >>> sorted(detector_names())
    ['grounding-dino', 'owlv2']
    >>> def corner(model=None, *, device="cpu"):  # a factory: the spec's MODEL, the device
    ...     return lambda frame: sv.Detections(xyxy=np.array([[0.0, 0, 8, 8]]))
    >>> factory = register_detector("corner")(corner)
    >>> "corner" in detector_names()
    True
    >>> _ = unregister_detector("corner")
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from tubescope.errors import ModelUnavailableError, ProposalError
from tubescope.hub import resolve_checkpoint
from tubescope.registry import Registry

if TYPE_CHECKING:
    import supervision as sv

__all__ = [
    "Detector",
    "TextPromptedDetector",
    "rescale_boxes",
    "load_pretrained",
    "register_detector",
    "unregister_detector",
    "detector_names",
    "build_detector",
]

Factory = TypeVar("Factory", bound=Callable[..., Any])


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


# ---------------------------------------------------------------------------- registry
_DETECTORS: Registry[Callable[..., Any]] = Registry("detector", ProposalError, case_insensitive=True, reserved=":@")


def register_detector(name: str) -> Callable[[Factory], Factory]:
    """Decorator: make ``factory`` the detector named ``name`` in ``"detector:NAME[@MODEL]"``.

    ``factory`` (a class or a function) is called as ``factory(device=DEVICE)``, or
    ``factory(MODEL, device=DEVICE)`` when the spec names weights, and returns a
    :class:`Detector`. Names are case-insensitive; a name can be registered once.

    Raises:
        ProposalError: the name is empty, has ``:`` or ``@``, or is already registered.
    """
    key = _DETECTORS.check_name(name)

    def add(factory: Factory) -> Factory:
        return _DETECTORS.add(key, factory)

    return add


def unregister_detector(name: str) -> Callable[..., Any] | None:
    """Remove a registered detector name; returns its factory (None when it was not there)."""
    return _DETECTORS.remove(name)


def detector_names() -> tuple[str, ...]:
    """The registered detector names, in registration order."""
    return _DETECTORS.names()


def build_detector(name: str, model: str | None = None, *, device: str = "cpu") -> Any:
    """The detector registered as ``name``, with weights ``model`` (its default when None).

    Raises:
        ProposalError: ``name`` is not registered (the message lists the names that are).

    Example:
        >>> from tubescope.proposals.detectors import build_detector
        >>> build_detector("owlv2", "google/owlv2-base-patch16").model_id
        'google/owlv2-base-patch16'
        >>> try:
        ...     build_detector("yolo")
        ... except ProposalError as err:
        ...     print(err)
        unknown detector 'yolo'; registered: grounding-dino, owlv2
    """
    factory = _DETECTORS.find(name)
    if factory is None:
        raise ProposalError(
            f"unknown detector {name!r}; registered: {', '.join(detector_names()) or 'none'}"
        )
    return factory(device=device) if model is None else factory(model, device=device)


# ---------------------------------------------------------------------------- loading
def load_pretrained(
    loader: Callable[..., Any], name_or_path: str | os.PathLike[str], what: str, **kwargs: Any
) -> Any:
    """``loader(directory, **kwargs)`` (a ``from_pretrained``) that fails fast and clearly.

    The checkpoint's directory comes from :func:`tubescope.hub.resolve_checkpoint` (a local
    directory as is; a hub id from the local cache, or downloaded when the hub answers); any
    failure is a one-line :class:`~tubescope.errors.ModelUnavailableError` saying what to
    download.

    Example:
        >>> from tubescope.errors import ModelUnavailableError
        >>> from tubescope.proposals import load_pretrained
        >>> def loader(name, **kw):
        ...     raise OSError("not found")
        >>> try:
        ...     load_pretrained(loader, "/no/such/dir", "Grounding DINO model")
        ... except ModelUnavailableError as err:
        ...     print(err)
        Grounding DINO model /no/such/dir: no such model directory (and not a hub id like 'org/name')
    """
    directory = resolve_checkpoint(name_or_path, what=what)
    try:
        return loader(str(directory), **kwargs)
    except (OSError, ValueError) as err:
        problem = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelUnavailableError(
            f"{what}: cannot load from the directory {directory} ({problem})"
        ) from None


# ---------------------------------------------------------------------------- prompts
def _phrases(prompt: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(prompt, str):
        parts = [p.strip() for p in prompt.split(".")]
    else:
        parts = [str(p).strip().rstrip(".").strip() for p in prompt]
    phrases = tuple(p.lower() for p in parts if p)
    if not phrases:
        raise ProposalError(f"empty detector prompt {prompt!r}")
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


class TextPromptedDetector:
    """Base of the transformers text-prompted detectors: loading, prompts, batching, NMS.

    A subclass sets ``name`` and ``_what`` (how messages name its weights) and defines
    ``_classes() -> (model class, image processor class)`` and
    ``_detect(frames) -> list[supervision.Detections]``; the checkpoint directory comes from
    :func:`tubescope.hub.resolve_checkpoint`, once for the model, tokenizer and processor.

    Args:
        model: hub id or checkpoint directory.
        prompt: a noun, phrases separated by dots, or a list of phrases; None lets
            :class:`~tubescope.proposals.DetectorProposals` set the query's head noun.
        device: torch device.
        batch_size: frames per forward pass.
        nms_threshold: class-agnostic NMS IoU applied to each frame's boxes; None: no NMS.
        model_kwargs: extra ``from_pretrained`` arguments of the model.
    """

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
            raise ProposalError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size)
        if nms_threshold is not None and not 0 < nms_threshold <= 1:
            raise ProposalError(
                f"nms_threshold must be in (0, 1] or None, got {nms_threshold!r}"
            )
        self.nms_threshold = nms_threshold
        self.model_kwargs = dict(model_kwargs or {})
        self._parts = _Components()

    # -- construction -------------------------------------------------------
    @classmethod
    def from_components(
        cls, model: Any, tokenizer: Any, image_processor: Any, **kwargs: Any
    ) -> TextPromptedDetector:
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

    def with_prompt(self, prompt: str | Sequence[str]) -> TextPromptedDetector:
        """A copy with another prompt that shares the loaded weights."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.phrases = _phrases(prompt)
        return clone

    def load(self) -> TextPromptedDetector:
        """Load the weights now (they load on first use otherwise); returns self."""
        with self._parts.lock:
            if not self._parts.loaded:
                directory = resolve_checkpoint(self.model_id, what=self._what)
                model, tokenizer, processor = self._load(directory)
                model.eval()
                self._parts.model = model.to(self.device)
                self._parts.tokenizer = tokenizer
                self._parts.image_processor = processor
        return self

    def _load(self, directory: Path) -> tuple[Any, Any, Any]:
        from transformers import AutoTokenizer

        model_class, processor_class = self._classes()
        model = load_pretrained(
            model_class.from_pretrained, directory, self._what, **self.model_kwargs
        )
        tokenizer = load_pretrained(
            AutoTokenizer.from_pretrained, directory, f"{self._what} tokenizer"
        )
        processor = load_pretrained(
            processor_class.from_pretrained, directory, f"{self._what} image processor"
        )
        return model, tokenizer, processor

    def _classes(self) -> tuple[Any, Any]:  # pragma: no cover - overridden
        """The transformers model class and (PIL) image processor class."""
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
            raise ProposalError(
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


