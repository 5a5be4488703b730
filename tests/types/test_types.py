"""The data model: validation, interpolation, supervision conversion, JSON round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tubescope import GroundingResult, SubQueries, Track, Tube, ValidationError

BOXES = [[0, 0, 10, 10], [4, 2, 14, 12]]


def make_tube(**changes):
    values = dict(start_frame=10, end_frame=20, frames=[10, 14], boxes=BOXES, fps=25.0,
                  start_time=0.4, end_time=0.8, score=0.75, track_id=3)
    values.update(changes)
    return Tube(**values)


# ---------------------------------------------------------------- Tube
def test_tube_json_round_trip_keeps_every_field():
    tube = make_tube()
    data = json.loads(tube.to_json())
    assert list(data) == ["start_frame", "end_frame", "frames", "boxes", "fps", "start_time",
                          "end_time", "score", "track_id"]
    assert data["boxes"] == [[0.0, 0.0, 10.0, 10.0], [4.0, 2.0, 14.0, 12.0]]
    again = Tube.from_json(tube.to_json())
    assert again == tube
    assert again.track_id == 3 and again.score == 0.75 and again.fps == 25.0


def test_tube_from_dict_accepts_minimal_schema_and_string_track_id():
    tube = Tube.from_dict({"start_frame": 0, "end_frame": 3, "frames": [], "boxes": [], "track_id": "a"})
    assert tube.span == (0, 3) and tube.track_id == "a" and tube.fps is None
    assert tube.box_at(1) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end_frame": 10}, "end_frame: span [10, 10) is empty"),
        ({"end_frame": 5}, "end_frame: span [10, 5) is empty"),
        ({"start_frame": -1, "frames": [], "boxes": []}, "start_frame: must be >= 0"),
        ({"frames": [14, 10]}, "frames[1]: frames must be strictly increasing, got 14 then 10"),
        ({"frames": [10, 10]}, "frames[1]: frames must be strictly increasing"),
        ({"frames": [10, 25]}, "frames: frame 25 lies outside the span [10, 20)"),
        ({"frames": [9, 12]}, "frames: frame 9 lies outside the span [10, 20)"),
        ({"frames": [10, 11.5]}, "frames[1]: frame index 11.5 is not an integer"),
        ({"boxes": [[0, 0, 10, 10]]}, "boxes: 1 box for 2 frames"),
        ({"boxes": [[0, 0, 10, 10], [20, 0, 10, 5]]}, "boxes[1]: box [20.0, 0.0, 10.0, 5.0] has x1 > x2"),
        ({"boxes": [[0, 9, 10, 3], [0, 0, 1, 1]]}, "boxes[0]: box [0.0, 9.0, 10.0, 3.0] has x1 > x2 or y1 > y2"),
        ({"boxes": [[0, 0, float("nan"), 1], [0, 0, 1, 1]]}, "boxes[0]: box [0.0, 0.0, nan, 1.0] is not finite"),
        ({"boxes": [[0, 0, float("inf"), 1], [0, 0, 1, 1]]}, "is not finite"),
        ({"boxes": [[0, 0, 1], [0, 0, 1]]}, "expected boxes of shape (n, 4)"),
        ({"fps": 0}, "fps: must be positive"),
        ({"fps": float("nan")}, "fps: must be finite"),
        ({"start_time": 2.0, "end_time": 1.0}, "end_time: end_time 1.0 precedes start_time 2.0"),
        ({"score": "high"}, "score: expected a number or null"),
        ({"track_id": 1.5}, "track_id: expected an integer"),
        ({"start_frame": True}, "start_frame: expected an integer, got True"),
    ],
)
def test_tube_validation_names_the_field(changes, message):
    with pytest.raises(ValidationError) as err:
        make_tube(**changes)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"start_frame": 0, "end_frame": 2, "frames": []}, "lacks required field(s) boxes"),
        ({"start_frame": 0, "end_frame": 2, "frames": [], "boxes": [], "colour": 1}, "unknown field(s) colour"),
        ([1, 2], "Tube JSON must be an object, got list"),
    ],
)
def test_tube_from_dict_rejects_bad_objects(data, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Tube.from_dict(data)


def test_tube_from_json_rejects_invalid_json():
    with pytest.raises(ValidationError, match="Tube: not valid JSON"):
        Tube.from_json("{not json")


def test_tube_is_immutable():
    tube = make_tube()
    with pytest.raises(AttributeError):
        tube.start_frame = 3
    with pytest.raises(ValueError):
        tube.boxes[0, 0] = 99.0


def test_box_at_interpolates_inside_span_and_holds_ends():
    tube = make_tube()
    assert tube.box_at(10).tolist() == [0, 0, 10, 10]
    assert tube.box_at(12).tolist() == [2, 1, 12, 11]  # halfway between frames 10 and 14
    assert tube.box_at(13).tolist() == [3, 1.5, 13, 11.5]
    assert tube.box_at(14).tolist() == [4, 2, 14, 12]
    assert tube.box_at(19).tolist() == [4, 2, 14, 12]  # after the last known frame: held
    assert tube.box_at(20) is None  # end is exclusive
    assert tube.box_at(9) is None
    assert 19 in tube and 20 not in tube


def test_box_at_holds_first_box_before_first_known_frame():
    tube = Tube(0, 10, frames=[5, 7], boxes=[[0, 0, 2, 2], [2, 2, 4, 4]])
    assert tube.box_at(0).tolist() == [0, 0, 2, 2]
    assert tube.box_at(6).tolist() == [1, 1, 3, 3]


def test_dense_has_a_box_on_every_frame_of_the_span():
    dense = make_tube().dense()
    assert dense.frames.tolist() == list(range(10, 20))
    assert dense.boxes[2].tolist() == [2, 1, 12, 11]
    assert dense.score == 0.75 and dense.track_id == 3


def test_to_detections_on_and_off_the_span():
    tube = make_tube()
    det = tube.to_detections(12)
    assert len(det) == 1
    np.testing.assert_allclose(det.xyxy, [[2, 1, 12, 11]])
    np.testing.assert_allclose(det.confidence, [0.75])
    assert det.tracker_id.tolist() == [3]
    assert det.data["track_id"].tolist() == [3]
    assert det.metadata["frame_index"] == 12
    assert len(tube.to_detections(25)) == 0


def test_to_detections_without_score_or_int_id():
    det = make_tube(score=None, track_id="man-1").to_detections(10)
    assert det.confidence is None and det.tracker_id is None
    assert det.data["track_id"].tolist() == ["man-1"]


def test_iter_detections_covers_the_span_in_order():
    items = list(make_tube().iter_detections())
    assert [frame for frame, _ in items] == list(range(10, 20))
    assert all(len(det) == 1 for _, det in items)


finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)


@st.composite
def tubes(draw):
    start = draw(st.integers(0, 1000))
    end = start + draw(st.integers(1, 50))
    frames = sorted(draw(st.sets(st.integers(start, end - 1), max_size=end - start)))
    boxes = []
    for _ in frames:
        x1, y1 = draw(finite), draw(finite)
        boxes.append([x1, y1, x1 + draw(st.floats(0, 500)), y1 + draw(st.floats(0, 500))])
    return Tube(start, end, frames=frames, boxes=boxes,
                fps=draw(st.none() | st.floats(0.1, 240)), score=draw(st.none() | st.floats(0, 1)),
                track_id=draw(st.none() | st.integers(0, 99) | st.text(max_size=5)))


@settings(max_examples=150, deadline=None)
@given(tubes())
def test_tube_json_round_trip_property(tube):
    again = Tube.from_json(tube.to_json())
    assert again == tube
    for frame in range(tube.start_frame, tube.end_frame):
        box = again.box_at(frame)
        if len(tube.frames):
            assert box is not None and box[0] <= box[2] + 1e-9 and box[1] <= box[3] + 1e-9


# ---------------------------------------------------------------- Track
def test_track_round_trip_with_masks_and_scores():
    mask = np.zeros((6, 8), dtype=bool)
    mask[1:4, 2:7] = True
    rle = Track.encode_mask(mask)
    track = Track(5, frames=[2, 6], boxes=[[2, 1, 7, 4], [3, 1, 8, 4]], masks=[rle, None],
                  label="person", scores=[0.9, 0.4])
    again = Track.from_json(track.to_json())
    assert again == track
    np.testing.assert_array_equal(again.mask_at(2), mask)
    assert again.mask_at(6) is None and again.mask_at(3) is None
    assert again.scores.tolist() == [0.9, 0.4]


def test_track_accepts_uncompressed_rle():
    track = Track(1, frames=[0], boxes=[[1, 1, 3, 3]], masks=[{"size": [4, 4], "counts": [5, 2, 2, 2, 5]}])
    assert track.mask_at(0).sum() == 4 and track.mask_at(0)[1, 1]


def test_track_box_interpolation_and_to_tube():
    track = Track(7, frames=[0, 10], boxes=[[0, 0, 10, 10], [10, 0, 20, 10]])
    assert track.box_at(5).tolist() == [5, 0, 15, 10]
    assert track.box_at(11) is None
    boxes, valid = track.boxes_at([0, 5, 12])
    assert valid.tolist() == [True, True, False]
    tube = track.to_tube(8, 15, fps=10.0, score=0.5)
    assert tube.span == (8, 15) and tube.track_id == 7 and tube.score == 0.5
    assert tube.frames.tolist() == [8, 9, 10]  # the track ends at frame 10
    assert tube.box_at(9).tolist() == [9, 0, 19, 10]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": [], "boxes": []}, "frames: a track needs at least one frame"),
        ({"track_id": None}, "track_id: a track needs an id"),
        ({"masks": [None]}, "masks: expected one mask (or null) per frame (2)"),
        ({"masks": [{"size": [2, 2]}, None]}, 'masks[0]: expected a COCO RLE'),
        ({"masks": [{"size": [2, 2], "counts": [1, 2]}, None]}, "masks[0]: uncompressed counts do not add up"),
        ({"masks": [{"size": [0, 2], "counts": "0"}, None]}, "masks[0]: size must be [height, width]"),
        ({"scores": [0.1]}, "scores: expected one number per frame (2)"),
        ({"label": 3}, "label: expected a string"),
    ],
)
def test_track_validation_names_the_field(kwargs, message):
    values = dict(track_id=1, frames=[0, 1], boxes=[[0, 0, 1, 1], [0, 0, 1, 1]])
    values.update(kwargs)
    with pytest.raises(ValidationError) as err:
        Track(**values)
    assert message in str(err.value)


# ---------------------------------------------------------------- GroundingResult
def make_result(**changes):
    values = dict(
        query="the man in the red jacket sits down",
        tube=make_tube(),
        video="clip.mp4",
        sub_queries=SubQueries("the man in the red jacket", "someone sits down", source="rules"),
        track_id=3,
        track_scores={3: 0.9, 4: 0.1},
        sampled_frames=[0, 5, 10, 15],
        frame_scores=[0.1, 0.2, 0.9, 0.3],
        grounding_token="<|im_end|>",
        proposal_source="precomputed",
        stats={"forward_passes": 6, "vision_encodes": 1, "seconds": 0.5},
        maps={"spatial": np.arange(8, dtype=np.float32).reshape(2, 2, 2)},
        meta={"model": "tiny", "config": {"lr": 8}},
    )
    values.update(changes)
    return GroundingResult(**values)


def test_grounding_result_round_trip():
    result = make_result()
    again = GroundingResult.from_json(result.to_json())
    assert again == result
    assert again.track_scores == {"3": 0.9, "4": 0.1}
    assert again.maps["spatial"].shape == (2, 2, 2)
    assert again.tube == result.tube
    assert again.meta["config"]["lr"] == 8
    assert again.sub_queries == SubQueries("the man in the red jacket", "someone sits down", False, "rules")
    assert again.stats["vision_encodes"] == 1
    light = json.loads(result.to_json(include_maps=False))
    assert light["maps"] is None and light["tube"]["track_id"] == 3


def test_grounding_result_without_tube_round_trips():
    result = GroundingResult("a dog")
    assert GroundingResult.from_json(result.to_json()) == result
    assert result.tube is None and result.frame_scores is None and result.sub_queries is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"query": "  "}, "query: must be a non-empty string"),
        ({"frame_scores": [0.1, 0.2]}, "frame_scores: 2 scores for 4 sampled frames"),
        ({"sub_queries": {"attribute": "x", "verb": "y"}}, "sub_queries JSON has unknown field(s) verb"),
        ({"sub_queries": {"fell_back": "no"}}, "sub_queries.fell_back: expected true or false"),
        ({"stats": {"seconds": "fast"}}, "stats['seconds']: expected a number or null"),
        ({"sampled_frames": [5, 3, 4, 6]}, "sampled_frames[1]: frames must be non-decreasing"),
        ({"track_scores": {"a": float("nan")}}, "track_scores['a']: must be finite"),
        ({"meta": {"x": object()}}, "meta: must be JSON-serialisable"),
        ({"tube": 5}, "tube: expected a Tube or null"),
        ({"maps": {"s": [[1.0, float("inf")]]}}, "maps['s']: contains non-finite values"),
    ],
)
def test_grounding_result_validation(changes, message):
    with pytest.raises(ValidationError) as err:
        make_result(**changes)
    assert message in str(err.value)


def test_grounding_result_allows_repeated_sampled_frames():
    result = make_result(sampled_frames=[0, 0, 1, 1], frame_scores=[0, 0, 1, 1])
    assert result.sampled_frames.tolist() == [0, 0, 1, 1]


def test_grounding_result_rejects_unknown_json_field():
    with pytest.raises(ValidationError, match="unknown field"):
        GroundingResult.from_dict({"query": "x", "answer": 1})


def test_grounding_result_json_carries_its_schema_version():
    from tubescope.types.schema import SCHEMA_VERSION

    result = GroundingResult(query="the dog", tube=Tube(0, 2, frames=[0], boxes=[[0, 0, 1, 1]]))
    data = result.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION
    assert GroundingResult.from_dict(data) == result
    old = {k: v for k, v in data.items() if k != "schema_version"}  # written before the field
    assert GroundingResult.from_dict(old) == result


def test_grounding_result_from_a_newer_schema_is_refused_in_one_line():
    data = GroundingResult(query="the dog").to_dict()
    data["schema_version"] = 99
    with pytest.raises(ValidationError, match="schema_version: .*newer tubescope .*schema version 99"):
        GroundingResult.from_dict(data)
