"""The token grid's place on the frame: cell rectangles and coverage through a backend's view."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tubescope.engine.geometry import FULL_VIEW, GridGeometry, check_view
from tubescope.engine.spatial import box_coverage, mask_coverage, track_coverage
from tubescope.types import Track


def test_full_view_cells_tile_the_frame():
    boxes = GridGeometry(3, 4, 640, 360).cell_boxes()
    assert boxes[0, 0].tolist() == [0.0, 0.0, 160.0, 120.0]
    assert boxes[-1, -1].tolist() == [480.0, 240.0, 640.0, 360.0]


def test_centre_crop_view_leaves_the_sides_outside_every_cell():
    # a 16:9 frame centre-cropped to a square: the grid sees x in [140, 500) of 640
    crop = GridGeometry(2, 2, 640, 360, view=(140 / 640, 0.0, 500 / 640, 1.0))
    left_quarter = np.array([[0.0, 0.0, 140.0, 360.0]])
    assert box_coverage(left_quarter, crop).max() == 0.0
    mask = np.zeros((360, 640), dtype=bool)
    mask[:, :140] = True
    assert mask_coverage(mask, crop).max() == 0.0
    mask[:, 140:320] = True  # now also the left half of the crop
    assert mask_coverage(mask, crop).tolist() == [[1.0, 0.0], [1.0, 0.0]]


def test_padded_view_counts_the_pad_as_uncovered():
    # letterboxed: the grid spans twice the frame's height, the frame in the middle
    pad = GridGeometry(2, 1, 100, 50, view=(0.0, -0.5, 1.0, 1.5))
    everything = np.ones((50, 100), dtype=bool)
    assert mask_coverage(everything, pad).tolist() == [[0.5], [0.5]]
    assert box_coverage(np.array([[0, 0, 100, 50]]), pad)[0].tolist() == [[0.5], [0.5]]


def test_mask_coverage_equals_area_averaging_on_the_full_frame():
    rng = np.random.default_rng(3)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(20, 120, 2))
        rows, cols = (int(v) for v in rng.integers(1, 9, 2))
        mask = rng.random((h, w)) < 0.4
        expected = cv2.resize(mask.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(mask_coverage(mask, GridGeometry(rows, cols, w, h)), expected, atol=1e-6)


def test_track_coverage_uses_the_view():
    track = Track(1, frames=[0, 1], boxes=[[0, 0, 40, 90], [120, 0, 160, 90]])
    crop = GridGeometry(1, 2, 160, 90, view=(0.25, 0.0, 0.75, 1.0))  # sees x in [40, 120)
    coverage = track_coverage(track, [0, 1], crop)
    assert coverage.max() == 0.0
    full = track_coverage(track, [0, 1], GridGeometry(1, 2, 160, 90))
    assert full[0, 0, 0] == 0.5 and full[1, 0, 1] == 0.5


@pytest.mark.parametrize("view", [(0, 0, 0, 1), (0.5, 0, 0.4, 1), (1.0, 0, 2.0, 1), (0, 0, float("nan"), 1), (0, 0, 1)])
def test_bad_views_are_refused(view):
    with pytest.raises(ValueError):
        check_view(view)


def test_full_view_constant():
    assert GridGeometry(1, 1, 10, 10).is_full and check_view(FULL_VIEW) == FULL_VIEW


# ---------------------------------------------------------------- the official bilinear resamplings
@pytest.mark.parametrize(("rows", "cols", "height", "width"), [(6, 6, 240, 320), (8, 8, 224, 224), (2, 3, 7, 9)])
def test_cell_sampling_equals_the_official_mask_interpolation(rows, cols, height, width):
    import torch

    mask = np.random.default_rng(rows).random((height, width)) > 0.6
    ry, rx = GridGeometry(rows, cols, width, height).cell_sampling(height, width)
    official = torch.nn.functional.interpolate(
        torch.tensor(mask, dtype=torch.float64)[None, None], size=(rows, cols), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(ry @ mask @ rx.T, official, atol=1e-12)  # float64: the rule, not float32 rounding


@pytest.mark.parametrize(("rows", "cols", "height", "width"), [(6, 6, 240, 320), (8, 8, 224, 224), (2, 3, 7, 9)])
def test_frame_upsampling_equals_the_official_map_interpolation(rows, cols, height, width):
    import torch

    grid = np.random.default_rng(cols).random((rows, cols))
    uy, ux = GridGeometry(rows, cols, width, height).frame_upsampling(height, width)
    official = torch.nn.functional.interpolate(
        torch.tensor(grid, dtype=torch.float64)[None, None], size=(height, width), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(uy @ grid @ ux.T, official, atol=1e-12)


def test_on_a_cropped_view_the_resamplings_act_on_the_viewed_rectangle_and_zero_outside():
    import torch

    crop = GridGeometry(2, 2, 160, 90, view=(0.21875, 0.0, 0.78125, 1.0))  # sees x in [35, 125)
    grid = np.array([[1.0, 2.0], [3.0, 4.0]])
    uy, ux = crop.frame_upsampling(90, 160)
    up = uy @ grid @ ux.T
    assert (up[:, :35] == 0).all() and (up[:, 125:] == 0).all()
    inside = torch.nn.functional.interpolate(torch.tensor(grid)[None, None], size=(90, 90), mode="bilinear",
                                             align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(up[:, 35:125], inside, atol=1e-12)
    mask = np.zeros((90, 160), bool)
    mask[:, :35] = True  # left of the crop: no cell sees it
    ry, rx = crop.cell_sampling(90, 160)
    assert (ry @ mask @ rx.T == 0).all()
    mask[:, 35:125] = True
    viewed = torch.nn.functional.interpolate(torch.tensor(mask[:, 35:125], dtype=torch.float64)[None, None],
                                             size=(2, 2), mode="bilinear", align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(ry @ mask @ rx.T, viewed, atol=1e-12)
