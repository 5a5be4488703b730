"""Detector + ByteTrack proposals on synthetic clips with a deterministic colour-blob detector."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
from tests.proposals.helpers import ColourBlobDetector

from tubescope import Track, Video
from tubescope.errors import ProposalError
from tubescope.proposals import (
    DetectorProposals,
    FrameDetections,
    TrackerConfig,
    bind_query,
    link_detections,
)
from tubescope.synthetic import ShapeSpec, make_clip

W, H, N = 320, 240, 100
SHAPES = [
    # red and blue cross each other around frame 50 (their boxes overlap; blue is drawn on top)
    ShapeSpec("red", "square", 30, start=(60, 116), end=(260, 116), appear=0, disappear=N),
    ShapeSpec("blue", "circle", 30, start=(260, 130), end=(60, 130), appear=0, disappear=N),
    ShapeSpec("green", "triangle", 40, start=(150, 200), end=(200, 200), appear=20, disappear=80),
    # visible on frames 44..53 only: detected once at stride 10 -> too short to be a track
    ShapeSpec("yellow", "square", 20, start=(60, 40), end=(70, 40), appear=44, disappear=54),
]
COLOURS = ["red", "blue", "green", "yellow"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(
        tmp_path_factory.mktemp("det") / "cross.mp4",
        width=W,
        height=H,
        num_frames=N,
        fps=30,
        shapes=SHAPES,
    )


@pytest.fixture(scope="module")
def video(clip):
    with Video(clip.path) as v:
        yield v


def _occluded(clip, name: str, frame: int) -> bool:
    """Whether the object's true box touches another visible object's box on ``frame``."""
    own = clip.object(name).tube.box_at(frame)
    for other in clip.objects:
        if other.name == name:
            continue
        box = other.tube.box_at(frame)
        if box is None or own is None:
            continue
        overlap_x = min(own[2], box[2]) > max(own[0], box[0])
        overlap_y = min(own[3], box[3]) > max(own[1], box[1])
        if overlap_x and overlap_y:
            return True
    return False


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("class_aware", [False, True])
def test_one_track_per_shape_with_stable_ids_through_the_crossing(clip, video, class_aware):
    source = DetectorProposals(
        ColourBlobDetector(COLOURS), stride=10, tracker=TrackerConfig(class_aware=class_aware)
    )
    tracks = source.tracks(video)
    by_label = {t.label: t for t in tracks}
    # one track per long-lived shape; the yellow one (one detection) is dropped
    assert sorted(by_label) == ["blue", "green", "red"] and len(tracks) == 3
    assert [t.track_id for t in tracks] == [0, 1, 2]
    for colour, track in by_label.items():
        obj = clip.object(f"{colour} {next(s.kind for s in SHAPES if s.color == colour)}")
        first, last = obj.tube.frames[0], obj.tube.frames[-1]
        expected = [f for f in range(0, N, 10) if first <= f <= last]
        assert track.frames.tolist() == expected  # never split, never lost at the crossing
        for frame, box, score in zip(track.frames, track.boxes, track.scores):
            truth = obj.tube.box_at(int(frame))
            # identity: the track's box always overlaps its own object best
            others = [o.tube.box_at(int(frame)) for o in clip.objects if o is not obj]
            best_other = max((_iou(box, b) for b in others if b is not None), default=0.0)
            assert _iou(box, truth) > best_other
            assert score == 1.0
            if not _occluded(clip, obj.name, int(frame)):
                np.testing.assert_allclose(box, truth, atol=2.0)


def test_crossing_frames_are_really_crossings(clip):
    # guard on the fixture: red and blue boxes overlap on some detected frames
    assert any(_occluded(clip, "red square", f) for f in range(0, N, 10))


def test_short_tracks_dropped_and_kept_on_request(video):
    keep_all = DetectorProposals(
        ColourBlobDetector(COLOURS), tracker=TrackerConfig(min_detections=1)
    )
    yellow = [t for t in keep_all.tracks(video) if t.label == "yellow"]
    assert len(yellow) == 1 and yellow[0].frames.tolist() == [50]
    strict = DetectorProposals(ColourBlobDetector(COLOURS), tracker=TrackerConfig(min_detections=7))
    labels = sorted(t.label for t in strict.tracks(video))
    assert labels == ["blue", "red"]  # green is detected on 6 frames only (20..70)


class _MissingDetector(ColourBlobDetector):
    """Misses the green shape on given call numbers (frames 40 and 50 at stride 10)."""

    def __init__(self, miss_frames, **kw):
        super().__init__(COLOURS, **kw)
        self.miss_frames = set(miss_frames)

    def __call__(self, frame):
        frame_index = self.calls * 10
        dets = super().__call__(frame)
        if frame_index in self.miss_frames and len(dets):
            dets = dets[dets.data["class_name"] != "green"]
        return dets


def test_short_gaps_are_interpolated(clip, video):
    tracks = DetectorProposals(
        _MissingDetector([40, 50]), tracker=TrackerConfig(max_gap=30)
    ).tracks(video)
    green = [t for t in tracks if t.label == "green"]
    assert len(green) == 1
    track = green[0]
    assert track.frames.tolist() == [20, 30, 40, 50, 60, 70]
    scores = dict(zip(track.frames.tolist(), track.scores.tolist()))
    assert scores[40] == 0.0 and scores[50] == 0.0 and scores[30] == 1.0
    truth = clip.object("green triangle").tube
    for frame in (40, 50):
        np.testing.assert_allclose(
            track.boxes[track.frames.tolist().index(frame)], truth.box_at(frame), atol=2.0
        )


def test_gaps_not_filled_when_asked_and_long_gaps_split(video):
    unfilled = DetectorProposals(
        _MissingDetector([40]), tracker=TrackerConfig(fill_gaps=False)
    ).tracks(video)
    green = [t for t in unfilled if t.label == "green"]
    assert [t.frames.tolist() for t in green] == [[20, 30, 50, 60, 70]]
    split = DetectorProposals(_MissingDetector([40]), tracker=TrackerConfig(max_gap=15)).tracks(
        video
    )
    green = [t for t in split if t.label == "green"]
    assert [t.frames.tolist() for t in green] == [[20, 30], [50, 60, 70]]
    assert green[0].track_id != green[1].track_id


def test_same_tracks_whatever_frames_are_asked_and_detection_runs_once(video):
    detector = ColourBlobDetector(COLOURS)
    source = DetectorProposals(detector, stride=10)
    sampled = source.tracks(video, frames=[0, 33, 66, 99])
    calls = detector.calls
    every = source.tracks(video, frames=None)
    assert detector.calls == calls == len(range(0, N, 10))
    assert sampled == every  # same ids, boxes and scores
    assert source.tracks(video, frames=[5]) == [
        t for t in every if t.first_frame <= 5 <= t.last_frame
    ]
    assert source.tracks(video, frames=[]) == []


def test_detector_masks_become_track_masks(video):
    tracks = DetectorProposals(ColourBlobDetector(COLOURS, with_masks=True)).tracks(video)
    red = next(t for t in tracks if t.label == "red")
    assert red.masks is not None and len(red.masks) == len(red.frames)
    mask = red.mask_at(0)
    assert mask.shape == (H, W)
    ys, xs = np.nonzero(mask)
    np.testing.assert_allclose(
        [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], red.boxes[0], atol=0.5
    )


def test_name_and_progress(video):
    seen = []
    source = DetectorProposals(
        ColourBlobDetector(COLOURS), stride=25, progress=lambda d, t: seen.append((d, t))
    )
    assert source.name == "detector:colour-blobs"
    source.tracks(video)
    assert seen[-1] == (4, 4)

    def my_detector(frame):
        return sv.Detections.empty()

    assert DetectorProposals(my_detector).name == "detector:my_detector"
    assert DetectorProposals(my_detector).tracks(video) == []


def test_bad_detector_outputs(video):
    with pytest.raises(ProposalError, match="returned list on frame 0"):
        DetectorProposals(lambda frame: []).tracks(video)

    def nan_detector(frame):
        dets = sv.Detections(xyxy=np.array([[0, 0, 4, 5.0]]))
        dets.xyxy[0, 2] = np.nan  # supervision validates at construction only
        return dets

    with pytest.raises(ProposalError, match="finite"):
        DetectorProposals(nan_detector).tracks(video)
    with pytest.raises(TypeError, match="callable"):
        DetectorProposals("not a detector")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stride"):
        DetectorProposals(lambda f: sv.Detections.empty(), stride=0)
    with pytest.raises(TypeError, match="no text prompt"):
        DetectorProposals(lambda f: sv.Detections.empty(), prompt="person")


def test_boxes_outside_the_frame_are_clipped():
    video = Video(np.zeros((30, 40, 50, 3), np.uint8))
    box = np.array([[-10.0, 5, 20, 60], [60, 0, 80, 10]])  # second one wholly outside
    tracks = DetectorProposals(
        lambda f: sv.Detections(xyxy=box.copy(), confidence=np.array([0.9, 0.9]))
    ).tracks(video)
    assert len(tracks) == 1
    np.testing.assert_allclose(tracks[0].boxes[0], [0, 5, 20, 40])


class _PromptedStub:
    """A text-prompted detector stub: records the prompt it ran with."""

    name = "stub"

    def __init__(self, prompt=None, log=None):
        self.prompt = prompt
        self.log = [] if log is None else log

    def with_prompt(self, prompt):
        return _PromptedStub(prompt, self.log)

    def __call__(self, frame):
        self.log.append(self.prompt)
        return sv.Detections(xyxy=np.array([[1.0, 1, 5, 5]]), confidence=np.array([0.5]))


def test_for_query_sets_the_head_noun_unless_the_prompt_is_fixed():
    video = Video(np.zeros((20, 16, 16, 3), np.uint8))
    source = DetectorProposals(_PromptedStub())
    bound = bind_query(source, "The man in the red jacket who sits down")
    assert bound is not source and bound.detector.prompt == "person"
    bound.tracks(video)
    assert set(bound.detector.log) == {"person"}
    assert bind_query(bound, "the woman") is bound  # same head noun -> same source
    assert bind_query(bound, "a dog").detector.prompt == "dog"  # a bound copy re-binds
    fixed = DetectorProposals(_PromptedStub(), prompt="car")
    assert bind_query(fixed, "the man").detector.prompt == "car"
    assert bind_query(DetectorProposals(_PromptedStub("dog")), "the man").detector.prompt == "dog"
    plain = DetectorProposals(lambda f: sv.Detections.empty())
    assert bind_query(plain, "the man") is plain


def test_link_detections_directly():
    def dets(*boxes):
        return sv.Detections(xyxy=np.array(boxes, dtype=float), confidence=np.full(len(boxes), 0.8))

    frames = [FrameDetections(f, f / 25, dets([f, 0, f + 20, 20])) for f in range(0, 60, 5)]
    frames[3] = FrameDetections(15, 15 / 25, sv.Detections.empty())
    (track,) = link_detections(frames, fps=25)
    assert track.frames.tolist() == list(range(0, 60, 5))
    assert track.scores[3] == 0.0
    np.testing.assert_allclose(track.boxes[3], [15, 0, 35, 20])
    with pytest.raises(ValueError, match="increasing"):
        link_detections(frames[::-1], fps=25)
    with pytest.raises(ValueError, match="fps"):
        link_detections(frames, fps=0)
    assert link_detections([], fps=25) == []
    with pytest.raises(ValueError, match="iou"):
        TrackerConfig(iou="jaccard")
    with pytest.raises(ValueError, match="min_detections"):
        TrackerConfig(min_detections=0)


def test_track_objects_are_plain_tracks(video):
    tracks = DetectorProposals(ColourBlobDetector(COLOURS)).tracks(video)
    for track in tracks:
        assert isinstance(track, Track)
        assert Track.from_json(track.to_json()) == track


def test_cache_never_mixes_up_videos():
    def one_box(frame):
        ys, xs = np.nonzero(frame[..., 0] > 128)
        if not len(xs):
            return sv.Detections.empty()
        box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
        return sv.Detections(xyxy=np.array(box, dtype=float), confidence=np.array([1.0]))

    source = DetectorProposals(one_box, stride=5)
    results = []
    for x in (2, 20):  # two in-memory videos of the same shape, one after the other
        frames = np.zeros((10, 32, 48, 3), np.uint8)
        frames[:, 4:10, x : x + 6] = 255
        results.append(source.tracks(Video(frames))[0].boxes[0].tolist())
    assert results == [[2, 4, 8, 10], [20, 4, 26, 10]]
