"""Linking per-frame detections into tracks with ByteTrack (the ``trackers`` package).

:func:`link_detections` takes the detections of the frames a detector ran on (every k-th frame
by default) and returns :class:`~tubescope.types.Track` objects:

* association is ``trackers.ByteTrackTracker`` (Kalman filter + two-stage IoU matching). It is
  given each frame's **time** (``update(..., timestamp=t)``) and the video's frame rate, so its
  Kalman step is the real gap between detected frames (k frames) and its lost-track budget is
  in seconds, whatever the stride;
* a new track is kept alive from its first detection (ByteTrack's
  ``minimum_consecutive_frames=1``), so an object missed once right after it appears is not
  cut in two; whether a track is long enough is decided afterwards by ``min_detections``;
* the boxes of a track are the detector's boxes (not the Kalman estimates), so a track is as
  accurate as its detector;
* a gap longer than ``max_gap`` frames between two detections of a track splits it in two;
  shorter gaps are kept and, with ``fill_gaps``, the frames the detector ran on inside the gap
  get linearly interpolated boxes (score 0, no mask);
* tracks with fewer than ``min_detections`` real detections are dropped;
* ids are 0, 1, ... in order of first appearance.

Example:
    >>> import numpy as np, supervision as sv
    >>> from tubescope.proposals import FrameDetections, link_detections
    >>> def boxes(i):
    ...     xyxy = np.array([[i / 5, 0, i / 5 + 10, 10]])
    ...     return sv.Detections(xyxy=xyxy, confidence=np.array([0.9]))
    >>> frames = [FrameDetections(i, i / 30, boxes(i)) for i in range(0, 50, 10)]
    >>> [(t.track_id, t.frames.tolist()) for t in link_detections(frames, fps=30)]
    [(0, [0, 10, 20, 30, 40])]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tubescope.errors import ProposalError
from tubescope.types import Track
from tubescope.types.boxseq import interpolate_boxes

if TYPE_CHECKING:
    import supervision as sv

__all__ = ["TrackerConfig", "FrameDetections", "link_detections"]

_IOU_KINDS = ("iou", "giou", "diou", "ciou")


@dataclass(frozen=True)
class TrackerConfig:
    """How detections are linked into tracks.

    Attributes:
        lost_track_seconds: how long a track that stopped being detected can still be matched
            again (ByteTrack's ``lost_track_buffer``, given here in seconds).
        minimum_iou_threshold: least similarity (see ``iou``) between a track's predicted box
            and a detection for them to be matched.
        high_conf_det_threshold: ByteTrack's split between the first (high-score) and second
            (low-score, revival only) association stages. Detections reaching the tracker are
            already filtered by the detector's own threshold, so the default 0 treats them all
            as high-score; raise it with a detector that returns low-score boxes too.
        track_activation_threshold: least score for a detection to start a new track.
        iou: similarity used for matching: ``"iou"``, ``"giou"``, ``"diou"`` or ``"ciou"``
            (the last three also reward close centres, which helps fast motion at large strides).
        class_aware: run one tracker per ``class_id`` so detections of different classes are
            never linked.
        max_gap: a track whose consecutive detections are more than this many frames apart is
            split into two tracks.
        fill_gaps: add interpolated boxes (score 0, no mask) on the detected frames a track
            missed inside a gap of at most ``max_gap`` frames.
        min_detections: tracks with fewer real detections are dropped.

    Example:
        >>> from tubescope.proposals import TrackerConfig
        >>> TrackerConfig(max_gap=20, min_detections=3, iou="diou").max_gap
        20
    """

    lost_track_seconds: float = 1.0
    minimum_iou_threshold: float = 0.1
    high_conf_det_threshold: float = 0.0
    track_activation_threshold: float = 0.0
    iou: str = "iou"
    class_aware: bool = False
    max_gap: int = 30
    fill_gaps: bool = True
    min_detections: int = 2

    def __post_init__(self) -> None:
        if not self.lost_track_seconds >= 0:
            raise ProposalError(f"lost_track_seconds must be >= 0, got {self.lost_track_seconds!r}")
        if self.iou not in _IOU_KINDS:
            raise ProposalError(f"iou must be one of {_IOU_KINDS}, got {self.iou!r}")
        if self.max_gap < 1:
            raise ProposalError(f"max_gap must be at least 1 frame, got {self.max_gap!r}")
        if self.min_detections < 1:
            raise ProposalError(f"min_detections must be at least 1, got {self.min_detections!r}")
        for name in (
            "minimum_iou_threshold",
            "high_conf_det_threshold",
            "track_activation_threshold",
        ):
            value = getattr(self, name)
            if not np.isfinite(value):
                raise ProposalError(f"{name} must be finite, got {value!r}")


class FrameDetections(NamedTuple):
    """The detections of one frame the detector ran on (possibly none)."""

    frame: int
    time: float
    detections: sv.Detections


@dataclass
class _Chain:
    """The detections one tracklet collected, in frame order."""

    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    masks: list[Any] = field(default_factory=list)

    def add(
        self,
        frame: int,
        dets: sv.Detections,
        row: int,
        names: list[str | None],
        masks: list[Any] | None,
    ) -> None:
        self.frames.append(frame)
        self.boxes.append(np.asarray(dets.xyxy[row], dtype=np.float64))
        self.scores.append(1.0 if dets.confidence is None else float(dets.confidence[row]))
        self.names.append(names[row])
        self.masks.append(None if masks is None else masks[row])


def _class_names(dets: sv.Detections) -> list[str | None]:
    names = dets.data.get("class_name") if dets.data else None
    if names is not None:
        return [None if n is None else str(n) for n in names]
    if dets.class_id is not None:
        return [str(int(c)) for c in dets.class_id]
    return [None] * len(dets)


def _encoded_masks(dets: sv.Detections) -> list[Any] | None:
    if dets.mask is None:
        return None
    return [Track.encode_mask(m) for m in dets.mask]


def _similarity(kind: str) -> Any:
    import trackers

    return {
        "iou": trackers.IoU,
        "giou": trackers.GIoU,
        "diou": trackers.DIoU,
        "ciou": trackers.CIoU,
    }[kind]()


def _run_bytetrack(
    frames: Sequence[FrameDetections], fps: float, config: TrackerConfig
) -> list[_Chain]:
    """One ByteTrack pass; returns every tracklet's detections (including single sightings).

    ByteTrack reports a new tracklet's first detection with ``tracker_id == -1`` (an id is given
    on its second match), so the tracklets it spawns are followed by identity and their first
    detection is recovered from the spawning box.
    """
    from trackers import ByteTrackTracker

    tracker = ByteTrackTracker(
        lost_track_buffer=round(config.lost_track_seconds * 30),  # in 30 fps frames
        frame_rate=float(fps),
        track_activation_threshold=config.track_activation_threshold,
        minimum_consecutive_frames=1,  # a newborn track survives a miss; min_detections filters
        minimum_iou_threshold=config.minimum_iou_threshold,
        high_conf_det_threshold=config.high_conf_det_threshold,
        iou=_similarity(config.iou),
    )
    live: dict[int, tuple[Any, _Chain]] = {}  # id(tracklet) -> (tracklet, chain); holds a reference
    finished: list[_Chain] = []
    for item in frames:
        dets = item.detections
        out = tracker.update(dets, timestamp=float(item.time))
        names = _class_names(out)
        masks = _encoded_masks(out)
        by_id = {t.tracker_id: t for t in tracker.tracks if t.tracker_id >= 0}
        untracked = []
        for row, tid in enumerate(out.tracker_id):
            tracklet = by_id.get(int(tid)) if tid >= 0 else None
            if tracklet is None:
                untracked.append(row)
                continue
            entry = live.get(id(tracklet))
            if entry is None:  # cannot happen with ByteTrack, kept for safety
                entry = live[id(tracklet)] = (tracklet, _Chain())
            entry[1].add(item.frame, out, row, names, masks)
        for tracklet in tracker.tracks:
            if id(tracklet) in live:
                continue
            chain = _Chain()
            live[id(tracklet)] = (tracklet, chain)
            if untracked:  # the detection this tracklet was spawned from
                state = np.asarray(tracklet.get_state_bbox(), dtype=np.float64)
                dist = [float(np.abs(out.xyxy[r] - state).sum()) for r in untracked]
                best = int(np.argmin(dist))
                chain.add(item.frame, out, untracked.pop(best), names, masks)
        alive = {id(t) for t in tracker.tracks}
        for key in [k for k in live if k not in alive]:
            finished.append(live.pop(key)[1])
    finished.extend(chain for _, chain in live.values())
    return [c for c in finished if c.frames]


def _split(chain: _Chain, max_gap: int) -> list[_Chain]:
    pieces, start = [], 0
    for i in range(1, len(chain.frames) + 1):
        if i == len(chain.frames) or chain.frames[i] - chain.frames[i - 1] > max_gap:
            pieces.append(
                _Chain(
                    chain.frames[start:i],
                    chain.boxes[start:i],
                    chain.scores[start:i],
                    chain.names[start:i],
                    chain.masks[start:i],
                )
            )
            start = i
    return pieces


def _to_track(chain: _Chain, track_id: int, grid: np.ndarray, fill: bool) -> Track:
    frames = np.asarray(chain.frames, dtype=np.int64)
    boxes = np.asarray(chain.boxes, dtype=np.float64)
    scores = np.asarray(chain.scores, dtype=np.float64)
    masks: list[Any] = list(chain.masks)
    if fill and len(frames) > 1:
        inner = grid[(grid > frames[0]) & (grid < frames[-1])]
        missing = np.setdiff1d(inner, frames)
        if missing.size:
            new_boxes = interpolate_boxes(frames, boxes, missing)
            all_frames = np.concatenate([frames, missing])
            order = np.argsort(all_frames, kind="stable")
            boxes = np.concatenate([boxes, new_boxes])[order]
            scores = np.concatenate([scores, np.zeros(len(missing))])[order]
            masks = [(masks + [None] * len(missing))[i] for i in order]
            frames = all_frames[order]
    named = [n for n in chain.names if n is not None]
    label = Counter(named).most_common(1)[0][0] if named else None
    return Track(
        track_id,
        frames=frames,
        boxes=boxes,
        masks=tuple(masks) if any(m is not None for m in masks) else None,
        label=label,
        scores=scores,
    )


def link_detections(
    frames: Sequence[FrameDetections],
    *,
    fps: float,
    config: TrackerConfig | None = None,
) -> list[Track]:
    """Link the detections of the detected frames into tracks.

    Args:
        frames: every frame the detector ran on, in increasing frame order, with its time in
            seconds and its detections (empty ``sv.Detections`` when nothing was found). The
            frames also define where gaps are filled.
        fps: the video's frame rate (ByteTrack's Kalman step is ``elapsed seconds * fps``).
        config: tracker settings (:class:`TrackerConfig`).

    Returns:
        Tracks with ids 0, 1, ... in order of first frame; each frame of a track carries the
        detector's box and score (interpolated boxes score 0), its label is the most frequent
        class name, and its masks are the detector's masks when it gives any.

    Example:
        >>> import numpy as np, supervision as sv
        >>> from tubescope.proposals import FrameDetections, TrackerConfig, link_detections
        >>> box = sv.Detections(xyxy=np.array([[0.0, 0, 10, 10]]), confidence=np.array([0.8]))
        >>> frames = [FrameDetections(0, 0.0, box), FrameDetections(10, 0.4, sv.Detections.empty()),
        ...           FrameDetections(20, 0.8, box)]
        >>> track, = link_detections(frames, fps=25, config=TrackerConfig(max_gap=30))
        >>> track.frames.tolist(), track.scores.tolist()  # the missed frame 10 is interpolated
        ([0, 10, 20], [0.8, 0.0, 0.8])
    """
    config = config or TrackerConfig()
    if not fps > 0:
        raise ProposalError(f"fps must be positive, got {fps!r}")
    order = [f.frame for f in frames]
    if any(b <= a for a, b in pairwise(order)):
        raise ProposalError("frames must be in strictly increasing frame order")
    grid = np.asarray(order, dtype=np.int64)
    if config.class_aware:
        class_ids = sorted(
            {
                int(c)
                for f in frames
                if f.detections.class_id is not None
                for c in f.detections.class_id
            }
        )
        chains: list[_Chain] = []
        for cid in class_ids:
            subset = [
                FrameDetections(
                    f.frame,
                    f.time,
                    f.detections[f.detections.class_id == cid]
                    if f.detections.class_id is not None
                    else f.detections[:0],
                )
                for f in frames
            ]
            chains.extend(_run_bytetrack(subset, fps, config))
        unclassed = [
            FrameDetections(
                f.frame,
                f.time,
                f.detections[:0] if f.detections.class_id is not None else f.detections,
            )
            for f in frames
        ]
        if any(len(f.detections) for f in unclassed):
            chains.extend(_run_bytetrack(unclassed, fps, config))
    else:
        chains = _run_bytetrack(frames, fps, config)
    pieces = [
        p
        for chain in chains
        for p in _split(chain, config.max_gap)
        if len(p.frames) >= config.min_detections
    ]
    pieces.sort(key=lambda c: (c.frames[0], float(c.boxes[0][0]), float(c.boxes[0][1])))
    return [_to_track(chain, i, grid, config.fill_gaps) for i, chain in enumerate(pieces)]
