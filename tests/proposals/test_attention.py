"""The detector-free fallback: tracks from planted attention maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tubescope import Video
from tubescope.errors import ProposalError
from tubescope.proposals import AttentionConfig, AttentionProposals, tracks_from_attention

W, H = 320, 240
GH, GW = 12, 16  # token grid: one cell is 20x20 px
CELL = (W / GW, H / GH)


def _planted(frames=8, seed=0, noise=0.05):
    """Two 2x3-cell blobs: A moves right along rows 2-3, B moves left along rows 8-9."""
    rng = np.random.default_rng(seed)
    maps = rng.uniform(0, noise, size=(frames, GH, GW))
    truth = {"A": [], "B": []}
    for t in range(frames):
        ax, bx = 1 + t, 12 - t
        maps[t, 2:4, ax : ax + 3] = 1.0
        maps[t, 3, ax + 1] = 1.2  # A peaks higher
        maps[t, 8:10, bx : bx + 3] = 0.8
        truth["A"].append([ax * CELL[0], 2 * CELL[1], (ax + 3) * CELL[0], 4 * CELL[1]])
        truth["B"].append([bx * CELL[0], 8 * CELL[1], (bx + 3) * CELL[0], 10 * CELL[1]])
    return maps, {k: np.array(v) for k, v in truth.items()}


FRAMES = [0, 12, 25, 37, 50, 62, 75, 87]


def test_two_planted_blobs_give_two_tracks_with_the_right_boxes():
    maps, truth = _planted()
    tracks = tracks_from_attention(maps, FRAMES, W, H)
    assert len(tracks) == 2
    a, b = tracks  # ordered by first frame, then x
    assert a.frames.tolist() == FRAMES and b.frames.tolist() == FRAMES
    assert a.label == b.label == "attention"
    a, b = (a, b) if a.boxes[0, 1] < b.boxes[0, 1] else (b, a)
    # within one token cell, scaled to pixels (here exact: the blobs are cell-aligned)
    assert np.abs(a.boxes - truth["A"]).max() <= max(CELL)
    assert np.abs(b.boxes - truth["B"]).max() <= max(CELL)
    np.testing.assert_allclose(a.boxes, truth["A"])
    np.testing.assert_allclose(a.scores, 1.0)
    np.testing.assert_allclose(b.scores, 0.8 / 1.2)


def test_masks_cover_the_component_cells():
    maps, truth = _planted()
    a = next(t for t in tracks_from_attention(maps, FRAMES, W, H) if t.boxes[0, 1] < H / 2)
    mask = a.mask_at(FRAMES[3])
    assert mask.shape == (H, W)
    assert mask.sum() == 6 * CELL[0] * CELL[1]
    ys, xs = np.nonzero(mask)
    np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], truth["A"][3])
    no_masks = tracks_from_attention(maps, FRAMES, W, H, AttentionConfig(masks=False))
    assert all(t.masks is None for t in no_masks)


def test_non_aligned_video_size_and_torch_input():
    maps, truth = _planted(frames=4)
    tracks = tracks_from_attention(torch.from_numpy(maps), FRAMES[:4], 333, 250)
    assert len(tracks) == 2
    a = next(t for t in tracks if t.boxes[0, 1] < 125)
    scale = np.array([333 / W, 250 / H, 333 / W, 250 / H])
    assert np.abs(a.boxes - truth["A"][:4] * scale).max() <= max(333 / GW, 250 / GH)


def test_crossing_blobs_keep_their_identity_with_motion():
    frames = 7
    maps = np.zeros((frames, GH, GW))
    for t in range(frames):
        ax, bx = 2 + 2 * t, 13 - 2 * t  # pass each other around t=3, in rows one cell apart
        maps[t, 4:6, ax : ax + 2] = 1.0
        maps[t, 7:9, bx : bx + 2] = 0.9
    tracks = tracks_from_attention(maps, list(range(0, 70, 10)), W, H)
    assert len(tracks) == 2
    for track in tracks:
        rows = {float(v) for v in track.boxes[:, 1]}
        assert len(rows) == 1  # never switched to the other blob's row
        xs = track.boxes[:, 0]
        assert (np.diff(xs) > 0).all() or (np.diff(xs) < 0).all()


def test_thresholds_and_quiet_frames():
    maps, _ = _planted(frames=5, noise=0.0)
    maps[2] *= 0.1  # a quiet frame: its maximum is 10% of the global one
    frames = [0, 10, 20, 30, 40]
    per_frame = tracks_from_attention(
        maps, frames, W, H, AttentionConfig(relative_to="frame", min_peak=0.0, max_missed=0)
    )
    assert sorted(len(t.frames) for t in per_frame) == [5, 5]
    skipped = tracks_from_attention(maps, frames, W, H, AttentionConfig(min_peak=0.2))
    assert all(20 not in t.frames for t in skipped) and len(skipped) == 2
    assert all(t.frames.tolist() == [0, 10, 30, 40] for t in skipped)  # max_missed=1 bridges it
    split = tracks_from_attention(maps, frames, W, H, AttentionConfig(min_peak=0.2, max_missed=0))
    assert len(split) == 4
    glob = tracks_from_attention(
        maps, frames, W, H, AttentionConfig(relative_to="global", threshold=0.9, min_peak=0.0)
    )
    assert len(glob) == 1 and glob[0].frames.tolist() == [
        0,
        10,
        30,
        40,
    ]  # only A's 1.2 peak cell passes
    np.testing.assert_allclose(
        glob[0].boxes[0], [2 * CELL[0], 3 * CELL[1], 3 * CELL[0], 4 * CELL[1]]
    )
    single = tracks_from_attention(maps[:1], [0], W, H)
    assert single == []  # one frame is shorter than min_frames=2
    assert len(tracks_from_attention(maps[:1], [0], W, H, AttentionConfig(min_frames=1))) == 2
    assert tracks_from_attention(np.zeros((3, 4, 4)), [0, 1, 2], W, H) == []


def test_repeated_frame_indices_are_merged():
    maps, _ = _planted(frames=4)
    doubled = np.concatenate([maps, maps * 0.5])
    indices = [0, 10, 20, 30, 0, 10, 20, 30]
    tracks = tracks_from_attention(doubled, indices, W, H)
    assert [t.frames.tolist() for t in tracks] == [[0, 10, 20, 30]] * 2


def test_bad_inputs():
    with pytest.raises(ProposalError, match=r"shape \(frames, h, w\)"):
        tracks_from_attention(np.zeros((4, 4)), [0, 1, 2, 3], W, H)
    with pytest.raises(ProposalError, match="2 frame indices for 3"):
        tracks_from_attention(np.zeros((3, 4, 4)), [0, 1], W, H)
    with pytest.raises(ProposalError, match="NaN"):
        tracks_from_attention(np.full((2, 4, 4), np.nan), [0, 1], W, H)
    with pytest.raises(ProposalError, match="non-negative integers"):
        tracks_from_attention(np.zeros((2, 4, 4)), [0.5, 1], W, H)
    with pytest.raises(ValueError, match="relative_to"):
        AttentionConfig(relative_to="token")
    with pytest.raises(ValueError, match="threshold"):
        AttentionConfig(threshold=0)


def test_attention_source_engine_hook():
    maps, _ = _planted(frames=4)
    video = Video(np.zeros((40, H, W, 3), np.uint8))
    source = AttentionProposals()
    assert source.name == "attention" and source.needs_attention and not source.bound
    with pytest.raises(ProposalError, match="with_maps"):
        source.tracks(video)
    bound = source.with_maps(maps, [0, 10, 20, 30])
    assert bound.bound and not source.bound
    tracks = bound.tracks(video, [0, 10, 20, 30])
    assert len(tracks) == 2 and bound.tracks(video) == tracks
    assert bound.tracks(video, [35]) == []
    with pytest.raises(ProposalError, match="beyond the video's 25 frames"):
        bound.tracks(Video(np.zeros((25, H, W, 3), np.uint8)))
    with pytest.raises(ProposalError, match="3 frame indices for 4"):
        source.with_maps(maps, [0, 1, 2])
