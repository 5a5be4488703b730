"""Detector + tracker proposals: :class:`DetectorProposals`, and the ``"detector:NAME"`` spec.

:class:`DetectorProposals` runs a detector every ``stride`` frames (10, like the paper) and
links its detections into tracks with ByteTrack (:mod:`tubescope.proposals.tracking`). A
detector is any callable ``detector(frame) -> supervision.Detections`` taking an RGB ``uint8``
``(height, width, 3)`` frame and returning boxes in its pixels, so ultralytics, rfdetr or your
own model plug in directly (optionally with ``detect_batch(frames) -> list[Detections]``).

The detectors themselves (the protocol, the built-in Grounding DINO and OWLv2, and the names
that ``"detector:NAME[@MODEL]"`` accepts) live in :mod:`tubescope.proposals.detectors`; their
names are re-exported here for the import paths of earlier versions.

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

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from tubescope.errors import ProposalError
from tubescope.plural import counted
from tubescope.proposals.base import VideoCache, select_tracks
from tubescope.proposals.detectors import (
    GROUNDING_DINO_DEFAULT,
    OWLV2_DEFAULT,
    Detector,
    GroundingDinoDetector,
    Owlv2Detector,
    build_detector,
    detector_names,
    load_pretrained,
    rescale_boxes,
)
from tubescope.proposals.prompt import detector_prompt
from tubescope.proposals.spec import SpecOptions, register_proposal_kind
from tubescope.proposals.tracking import FrameDetections, TrackerConfig, link_detections

if TYPE_CHECKING:
    import supervision as sv
    from tubescope.types import Track
    from tubescope.video import Video

__all__ = [
    "DetectorProposals",
    # re-exported from tubescope.proposals.detectors, their home since the split
    "Detector",
    "GroundingDinoDetector",
    "Owlv2Detector",
    "rescale_boxes",
    "load_pretrained",
    "GROUNDING_DINO_DEFAULT",
    "OWLV2_DEFAULT",
]


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
            raise ProposalError(f"stride must be at least 1 frame, got {stride}")
        if batch_size < 1:
            raise ProposalError(f"batch_size must be at least 1, got {batch_size}")
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
                    f"{self.name}: detect_batch returned {counted(len(outputs), 'result')} "
                    f"for {counted(len(pending), 'frame')}"
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



def _detector_usage() -> str:
    return f'"detector:NAME[@MODEL_ID_OR_DIR]" (NAME: {", ".join(detector_names())})'


@register_proposal_kind("detector", usage=_detector_usage)
def _detector_spec(argument: str | None, options: SpecOptions) -> DetectorProposals:
    name, at, model = (argument or "").partition("@")
    if at and not model.strip():
        raise ProposalError("nothing after '@' (expected a model id or directory)")
    detector = build_detector(name.strip(), model.strip() or None, device=options.device)
    return DetectorProposals(detector, stride=options.stride)
