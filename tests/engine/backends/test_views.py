"""Geometry that follows the pixels: each backend's ``VisualTokens.view`` is the part of the
frame its preprocessing really shows the model. Pixels changed in one region change exactly
the token cells the view maps there, and nothing else; pixels outside the view change nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tubescope import Grounder, GrounderConfig, Track
from tubescope.engine.backends.llava import FRAME_FITS
from tubescope.engine.engine import EncodedVideo
from tubescope.engine.geometry import FULL_VIEW, GridGeometry
from tubescope.engine.spatial import track_coverage
from tubescope.synthetic import make_clip

from tests.engine.backends.helpers import isolate_vision_tokens, load_cpu, random_frames

HEIGHT, WIDTH = 112, 200  # a wide frame: a centre crop would lose its sides


def changed_cells(a, b) -> set[tuple[int, int, int]]:
    """``(group, row, col)`` of the grid tokens that differ between two encodings."""
    layout = a.layout
    diff = (a.embeds - b.embeds).abs().amax(-1) > 1e-6
    cells = set()
    for token in torch.nonzero(diff).flatten().tolist():
        flat = int(layout.grid_index[token])
        assert flat >= 0, "a newline token changed"
        g, rest = divmod(flat, layout.rows * layout.cols)
        cells.add((g, *divmod(rest, layout.cols)))
    return cells


def cell_region(geometry: GridGeometry, row: int, col: int, margin: float = 0.3) -> tuple[slice, slice]:
    """The middle of cell ``(row, col)`` on the frame: its rectangle (clipped to the frame) less
    ``margin`` of its size on each side, so resampling filters stay inside the cell."""
    x0, y0, x1, y1 = geometry.cell_boxes()[row, col]
    x0, x1 = max(x0, 0.0), min(x1, geometry.width)
    y0, y1 = max(y0, 0.0), min(y1, geometry.height)
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    rows = slice(int(np.ceil(y0 + dy)), int(np.floor(y1 - dy)))
    cols = slice(int(np.ceil(x0 + dx)), int(np.floor(x1 - dx)))
    assert rows.stop > rows.start and cols.stop > cols.start
    return rows, cols


def isolated_backend(path, **options):
    backend = load_cpu(path, **options)
    assert isolate_vision_tokens(backend.model) == backend.model.config.vision_config.to_dict().get(
        "depth", backend.model.config.vision_config.to_dict().get("num_hidden_layers")
    )
    return backend


def check_cells_follow_the_pixels(backend) -> tuple[float, float, float, float]:
    frames = random_frames(4, HEIGHT, WIDTH, seed=21)
    base = backend.encode(frames)
    layout = base.layout
    geometry = GridGeometry(layout.rows, layout.cols, WIDTH, HEIGHT, base.view)
    boxes = geometry.cell_boxes()
    inside = [
        (r, c)
        for r in range(layout.rows)
        for c in range(layout.cols)
        if boxes[r, c, 0] >= 0 and boxes[r, c, 2] <= WIDTH and boxes[r, c, 1] >= 0 and boxes[r, c, 3] <= HEIGHT
    ]
    assert inside
    for row, col in {inside[0], inside[len(inside) // 2], inside[-1]}:
        rows, cols = cell_region(geometry, row, col)
        perturbed = frames.copy()
        perturbed[:, rows, cols] ^= 0x5A
        got = changed_cells(base, backend.encode(perturbed))
        assert got == {(g, row, col) for g in range(layout.groups)}, (row, col, base.view)
    return base.view


def test_changed_pixels_change_exactly_the_cells_the_view_maps_there(tiny_dirs, family):
    backend = isolated_backend(tiny_dirs[family])
    view = check_cells_follow_the_pixels(backend)
    assert view == FULL_VIEW  # every family's default sees the whole frame


def test_checkpoints_built_like_real_files_follow_the_pixels(real_dirs, real_family):
    """The real preprocessing (Qwen's video pixel budget upsamples a small frame; LLaVA-NeXT-
    Video's 336 px tower) keeps the cells where the view puts them."""
    assert check_cells_follow_the_pixels(isolated_backend(real_dirs[real_family])) == FULL_VIEW


@pytest.mark.parametrize("fit", FRAME_FITS)
def test_llava_frame_fits_report_what_they_show(tiny_dirs, fit):
    backend = isolated_backend(tiny_dirs["llava-next-video"], frame_fit=fit)
    view = check_cells_follow_the_pixels(backend)
    x0, y0, x1, y1 = view
    if fit == "squash":
        assert view == FULL_VIEW
    elif fit == "crop":  # shortest edge 112 -> 112 x 200, centre 112 columns: 44..156
        assert (x0, y0, x1, y1) == (44 / 200, 0.0, 156 / 200, 1.0)
    else:  # pad: 200 -> 112 wide, 63 rows high, padded 24 / 25 rows above and below
        assert (x0, x1) == (0.0, 1.0) and y0 < 0 and y1 > 1
        assert (y0, y1) == (-24 / 63, 88 / 63)


def test_pixels_outside_a_crop_view_change_nothing(tiny_dirs):
    backend = isolated_backend(tiny_dirs["llava-next-video"], frame_fit="crop")
    frames = random_frames(2, HEIGHT, WIDTH, seed=22)
    base = backend.encode(frames)
    x0, _, x1, _ = base.view
    perturbed = frames.copy()
    margin = 3  # bicubic support
    perturbed[:, :, : int(x0 * WIDTH) - margin] = 0
    perturbed[:, :, int(np.ceil(x1 * WIDTH)) + margin :] = 255
    assert torch.equal(backend.encode(perturbed).embeds, base.embeds)


def test_llava_next_video_default_sees_the_sides_of_a_wide_frame(tiny_dirs):
    """The defect: the checkpoint's processor centre-crops, so changing the left fifth of a 16:9
    frame left the embeddings bit-identical while the engine gave boxes there coverage."""
    backend = load_cpu(tiny_dirs["llava-next-video"])  # default preprocessing, real tower
    frames = random_frames(2, 90, 160, seed=23)
    left = frames.copy()
    left[:, :, :32] = 255 - left[:, :, :32]
    a, b = backend.encode(frames), backend.encode(left)
    assert a.view == FULL_VIEW
    assert not torch.equal(a.embeds, b.embeds)


def test_boxes_outside_the_view_get_no_coverage(tiny_dirs):
    frames = random_frames(2, 90, 160, seed=24)
    track = Track(0, frames=[0, 1], boxes=[[0, 10, 30, 80], [0, 10, 30, 80]])  # the left fifth
    coverages = {}
    for fit in ("squash", "crop"):
        visual = load_cpu(tiny_dirs["llava-next-video"], frame_fit=fit).encode(frames)
        encoded = EncodedVideo(visual, np.arange(2), width=160, height=90, frame_count=2)
        coverages[fit] = track_coverage(track, [0, 1], encoded.geometry)
    assert coverages["squash"].max() > 0.5
    assert coverages["crop"].max() == 0.0  # the model never saw it


def test_the_view_reaches_the_result_and_the_attention_proposals(tiny_dirs, tmp_path):
    clip = make_clip(tmp_path / "wide.mp4", num_frames=12, width=320, height=180, fps=12, seed=3)
    grounder = Grounder(
        load_cpu(tiny_dirs["llava-next-video"], frame_fit="crop"),
        proposals="attention",
        decomposer="rules",
        config=GrounderConfig(num_frames=4, lra_steps=0, tas=False),
    )
    result = grounder.ground(clip.path, clip.objects[0].description, return_maps=True)
    x0, _, x1, _ = result.meta["view"]
    assert (x0, x1) == (43 / 199, 155 / 199)  # 112 x 199 after the shortest-edge resize
    restored = type(result).from_json(result.to_json())
    assert restored.meta["view"] == result.meta["view"]
    tracks = grounder.proposals.with_maps(
        result.maps["spatial"], result.sampled_frames, view=tuple(result.meta["view"])
    ).tracks(grounder_video(clip.path))
    assert tracks
    for track in tracks:  # boxes lie inside the part of the frame the model saw
        assert (track.boxes[:, 0] >= x0 * 320 - 1e-6).all() and (track.boxes[:, 2] <= x1 * 320 + 1e-6).all()


def grounder_video(path):
    from tubescope import Video

    return Video(path)
