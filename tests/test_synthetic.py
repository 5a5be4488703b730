"""The synthetic clip generator: ground truth equals what is drawn."""

from __future__ import annotations

import numpy as np
import pytest

from tubescope.synthetic import PALETTE, ShapeSpec, make_clip, random_shapes, read_barcode, render_frames


def _extent(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("kind", ["circle", "square", "triangle"])
def test_ground_truth_boxes_are_the_drawn_pixel_extent(kind):
    shape = ShapeSpec("red", kind, 21, start=(40.0, 60.0), end=(250.0, 180.0), appear=2, disappear=18)
    clip = make_clip(None, shapes=[shape], num_frames=20, barcode=False)
    frames = clip.to_array()
    tube = clip.objects[0].tube
    assert tube.span == (2, 18)
    for index in range(20):
        drawn = np.all(frames[index] == PALETTE["red"], axis=-1)
        box = tube.box_at(index)
        if index < 2 or index >= 18:
            assert box is None and not drawn.any()
        else:
            assert box.tolist() == _extent(drawn)


def test_boxes_are_clipped_at_the_frame_edge():
    shape = ShapeSpec("blue", "square", 30, start=(0.0, 120.0), end=(0.0, 120.0), appear=0, disappear=3)
    clip = make_clip(None, shapes=[shape], num_frames=3, barcode=False)
    drawn = np.all(clip.to_array()[0] == PALETTE["blue"], axis=-1)
    assert clip.objects[0].tube.box_at(0).tolist() == _extent(drawn) == [0, 105, 16, 136]


def test_random_scene_is_deterministic_and_described():
    a = random_shapes(3, 320, 240, 60, seed=11)
    b = random_shapes(3, 320, 240, 60, seed=11)
    assert a == b and a != random_shapes(3, 320, 240, 60, seed=12)
    assert len({s.color for s in a}) == 3
    for shape in a:
        assert shape.description.startswith(f"the {shape.color} {shape.kind} ")
        assert 0 <= shape.appear < shape.disappear <= 60


def test_description_follows_the_motion():
    right = ShapeSpec("green", "circle", 10, (10.0, 50.0), (200.0, 60.0), 0, 5)
    up = ShapeSpec("green", "circle", 10, (100.0, 200.0), (90.0, 40.0), 0, 5)
    still = ShapeSpec("green", "circle", 10, (100.0, 100.0), (101.0, 100.0), 0, 5)
    assert right.description == "the green circle moving to the right"
    assert up.description == "the green circle moving up"
    assert still.description == "the green circle standing still"


def test_barcode_round_trips_every_index():
    frames = render_frames([], 320, 240, 1, barcode=True)
    frame = next(frames)
    assert read_barcode(frame) == 0
    for index in (1, 2, 255, 1799, 40000, 65535):
        (image,) = list(render_frames([], 160, 32, 1))
        from tubescope.synthetic import _draw_barcode

        _draw_barcode(image, index)
        assert read_barcode(image) == index


def test_track_and_tube_agree(h264_clip):
    for obj in h264_clip.objects:
        assert obj.track.frames.tolist() == obj.tube.frames.tolist()
        assert obj.tube.track_id == obj.track_id == obj.track.track_id
        assert obj.tube.start_time == pytest.approx(obj.tube.start_frame / 30)
    assert h264_clip.object(h264_clip.objects[1].name) is h264_clip.objects[1]
    with pytest.raises(KeyError, match="no object"):
        h264_clip.object("purple blob")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(color="purple", kind="circle"), "unknown colour"),
        (dict(color="red", kind="star"), "unknown shape"),
        (dict(color="red", kind="circle", appear=5, disappear=5), "is empty"),
    ],
)
def test_shape_spec_validation(kwargs, message):
    values = dict(size=10, start=(0.0, 0.0), end=(1.0, 1.0), appear=0, disappear=3)
    values.update(kwargs)
    with pytest.raises(ValueError, match=message):
        ShapeSpec(**values)


def test_make_clip_rejects_bad_timestamps_and_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match="strictly increasing"):
        make_clip(None, num_frames=3, timestamps=[0.0, 0.0, 0.1])
    with pytest.raises(ValueError, match="even width and height"):
        make_clip(tmp_path / "odd.mp4", width=321, height=240, num_frames=3)
