"""Where a track exists, and no box where it does not (issue 17): absent marks, runs, tube gaps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tubescope import Track, Tube
from tubescope.errors import ValidationError


def test_absent_marks_split_a_track_into_runs_and_nothing_is_interpolated_across_them():
    track = Track(1, frames=[0, 10, 30, 40], boxes=[[0, 0, 2, 2]] * 4, absent=[20])
    assert track.runs == ((0, 10), (30, 40))
    assert track.present_at([0, 5, 10, 11, 20, 29, 30, 41]).tolist() == [1, 1, 1, 0, 0, 0, 1, 0]
    assert track.box_at(15) is None and track.box_at(35) is not None
    boxes, valid = track.boxes_at([5, 25])
    assert valid.tolist() == [True, False]


def test_without_absent_marks_a_track_exists_from_its_first_to_its_last_sighting():
    track = Track(1, frames=[4, 9], boxes=[[0, 0, 2, 2]] * 2)
    assert track.runs == ((4, 9),) and track.absent is None
    assert track.box_at(3) is None and track.box_at(10) is None  # nothing extrapolated


def test_absent_marks_are_validated_and_round_trip_through_json():
    with pytest.raises(ValidationError, match="both a sighting and absent"):
        Track(1, frames=[0, 10], boxes=[[0, 0, 1, 1]] * 2, absent=[10])
    track = Track(1, frames=[0, 10], boxes=[[0, 0, 1, 1]] * 2, absent=[5])
    assert Track.from_json(track.to_json()) == track
    assert "absent" not in Track(2, frames=[0], boxes=[[0, 0, 1, 1]]).to_dict()  # old JSON unchanged


def test_the_tube_of_a_track_has_gaps_where_the_track_is_absent():
    """Before, ``to_tube`` + ``Tube.box_at`` held the last box after the track ended and
    interpolated across the frames where it was absent."""
    track = Track(7, frames=[10, 20, 40], boxes=[[0, 0, 4, 4], [4, 0, 8, 4], [8, 0, 12, 4]], absent=[30])
    tube = track.to_tube(5, 50)
    assert tube.gaps.tolist() == [[5, 10], [21, 40], [41, 50]]
    assert [tube.box_at(f) is None for f in (5, 9, 10, 20, 21, 30, 39, 40, 45)] == [
        True, True, False, False, True, True, True, False, True,
    ]
    assert len(tube.to_detections(30)) == 0 and len(tube.to_detections(15)) == 1
    assert tube.dense().frames.tolist() == list(range(10, 21)) + [40]
    assert Tube.from_json(tube.to_json()) == tube
    assert json.loads(tube.to_json())["gaps"] == [[5, 10], [21, 40], [41, 50]]


def test_gaps_are_validated():
    with pytest.raises(ValidationError, match="gaps"):
        Tube(0, 10, frames=[2], boxes=[[0, 0, 1, 1]], gaps=[[1, 4]])  # a box inside a gap
    with pytest.raises(ValidationError, match=r"gaps\[0\]"):
        Tube(0, 10, gaps=[[8, 12]])  # outside the span
    with pytest.raises(ValidationError, match=r"gaps\[1\]"):
        Tube(0, 10, gaps=[[5, 7], [6, 8]])  # overlapping
    assert "gaps" not in Tube(0, 3).to_dict()  # a tube without gaps writes the JSON it always did


def test_the_nearest_mask_keyframe_is_moved_with_the_box():
    mask = np.zeros((20, 20), bool)
    mask[2:6, 2:4] = True  # inside its box [2, 2, 4, 6]
    track = Track(1, frames=[0, 10, 20], boxes=[[2, 2, 4, 6], [12, 2, 14, 6], [2, 2, 6, 10]],
                  masks=[Track.encode_mask(mask), None, None], absent=[25])
    moved = track.mask_near(10)  # the box moved 10 px right
    assert np.argwhere(moved).min(axis=0).tolist() == [2, 12] and np.argwhere(moved).max(axis=0).tolist() == [5, 13]
    assert track.mask_near(20).sum() == 4 * 8  # scaled to the 4 x 8 box
    assert track.mask_near(25) is None  # absent
    assert track.mask_at(10) is None  # only the keyframe has its own mask
