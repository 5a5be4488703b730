"""A tube's gaps (frames where its track does not exist) carry no box in evaluation either."""

from __future__ import annotations

import numpy as np

from tubescope import Track, Tube
from tubescope.eval.boxlookup import PredictedBoxes
from tubescope.eval.predictions import Prediction


def test_gap_frames_have_no_box_exactly_like_tube_box_at():
    track = Track(1, frames=[10, 20, 40, 50], boxes=[[0, 0, 4, 4], [2, 0, 6, 4], [8, 0, 12, 4], [9, 1, 13, 5]],
                  absent=[30])
    tube = track.to_tube(5, 60)
    assert tube.gaps.tolist() == [[5, 10], [21, 40], [51, 60]]
    other = Tube(0, 10, frames=[0, 9], boxes=[[0, 0, 1, 1], [1, 1, 2, 2]])
    lookup = PredictedBoxes([Prediction.from_tube(other), Prediction.from_tube(tube)], interpolate_keyed=False)
    frames = np.arange(0, 62)
    boxes, has = lookup.at(np.ones_like(frames), frames)
    for f, box, ok in zip(frames, boxes, has):
        expected = tube.box_at(int(f))
        assert ok == (expected is not None), f
        if ok:
            np.testing.assert_array_equal(box, expected)
    boxes, has = lookup.at(np.zeros(10, dtype=np.int64), np.arange(10))  # the other tube is untouched
    assert has.all()
