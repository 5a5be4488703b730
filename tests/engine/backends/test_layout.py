"""Token layout: perturbation proofs of token -> (frame, row, col), frame reversal, pooling options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tubescope.engine.backends.families import adapter_class
from tubescope.engine.backends.llava_onevision import LlavaOnevisionBackend
from tubescope.engine.backends.qwen2_vl import Qwen2VLBackend

from tests.engine.backends.helpers import isolate_vision_tokens, load_cpu, random_frames

# (family, frame height, frame width, cell size in pixels of one token, expected grid)
GEOMETRY = {
    "qwen2-vl": (112, 168, 28, (2, 4, 6)),
    "qwen2.5-vl": (224, 168, 28, (2, 8, 6)),  # 2 x 2 attention windows of 112 px
    "llava-onevision": (112, 112, 28, (4, 4, 4)),
    "llava-next-video": (112, 112, 28, (4, 4, 4)),
    "internvl": (112, 112, 28, (4, 4, 4)),  # 8 x 8 patches, pixel shuffle 0.5
    "qwen3-vl": (128, 192, 32, (2, 4, 6)),  # 16 px patches, 2 x 2 merge
    "qwen3-vl-moe": (128, 192, 32, (2, 4, 6)),
}


def geometry(family, backend):
    """GEOMETRY of a family; for a family not listed, 112 px frames and the grid its adapter
    reports (the perturbation proofs then check the token map against that layout)."""
    if family in GEOMETRY:
        return GEOMETRY[family]
    layout = backend.encode(random_frames(4, 112, 112)).layout
    return 112, 112, 112 // layout.cols, layout.grid_shape


def changed_tokens(a: torch.Tensor, b: torch.Tensor) -> set[int]:
    return set(torch.nonzero((a - b).abs().amax(-1) > 1e-6).flatten().tolist())


@pytest.fixture
def isolated(tiny_dirs, family):
    """A fresh backend whose vision tower does not mix tokens (attention outputs zeroed)."""
    backend = load_cpu(tiny_dirs[family])
    silenced = isolate_vision_tokens(backend.model)
    assert silenced == 2  # both vision blocks
    return backend


def test_perturbing_one_cell_changes_exactly_its_token(isolated, family):
    height, width, cell, grid = geometry(family, isolated)
    frames = random_frames(4, height, width, seed=10)
    base = isolated.encode(frames)
    layout = base.layout
    assert layout.grid_shape == grid
    newline = 1 if isinstance(isolated, LlavaOnevisionBackend) else 0
    assert base.num_tokens == int(np.prod(grid)) + newline
    checked = 0
    for frame, row, col in [
        (0, 0, 0),
        (1, 0, grid[2] - 1),
        (2, grid[1] - 1, 0),
        (3, grid[1] - 1, grid[2] - 1),
        (3, 1, 2),
    ]:
        perturbed = frames.copy()
        perturbed[frame, row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] ^= 0x5A
        changed = changed_tokens(isolated.encode(perturbed).embeds, base.embeds)
        group = int(layout.group_of_frame[frame])
        flat = (group * grid[1] + row) * grid[2] + col
        assert changed == {int(layout.grid_positions[flat])}, (frame, row, col)
        # the map back to frames puts the change at (frame, row, col) of every frame of the group
        delta = np.zeros(base.num_tokens)
        delta[list(changed)] = 1.0
        frames_map = layout.to_frames(delta)
        hit = {tuple(int(i) for i in ix) for ix in np.argwhere(frames_map > 0)}
        assert hit == {(f, row, col) for f in np.flatnonzero(layout.group_of_frame == group)}
        checked += 1
    assert checked == 5


def test_real_tower_changes_only_the_perturbed_frames_group(backend, family):
    height, width, _, grid = geometry(family, backend)
    frames = random_frames(4, height, width, seed=11)
    base = backend.encode(frames)
    perturbed = frames.copy()
    perturbed[2, :20, :20] = 255 - perturbed[2, :20, :20]
    changed = changed_tokens(backend.encode(perturbed).embeds, base.embeds)
    group = int(base.layout.group_of_frame[2])
    cells = grid[1] * grid[2]
    expected = set(base.layout.grid_positions[group * cells : (group + 1) * cells].tolist())
    assert changed and changed <= expected


def test_reversed_frames_permutes_without_encoding(backend):
    visual = backend.encode(random_frames(4, seed=12))
    encodes = backend.counters["vision_encodes"]
    rev = visual.reversed_frames()
    assert backend.counters["vision_encodes"] == encodes
    assert rev.reversed and rev.layout is visual.layout
    grid = visual.layout.to_grid(visual.embeds.T)  # (hidden, groups, rows, cols)
    grid_rev = rev.layout.to_grid(rev.embeds.T)
    torch.testing.assert_close(grid_rev, torch.flip(grid, dims=(1,)), atol=0, rtol=0)
    newlines = np.flatnonzero(visual.layout.grid_index < 0)
    torch.testing.assert_close(rev.embeds[newlines], visual.embeds[newlines], atol=0, rtol=0)
    if isinstance(backend, LlavaOnevisionBackend):
        assert newlines.tolist() == [visual.num_tokens - 1]
    torch.testing.assert_close(rev.reversed_frames().embeds, visual.embeds, atol=0, rtol=0)
    # the reversed tokens still prefill (same positions, the video seen backwards)
    out = backend.prefill(rev, ["Is there a dog?"])[0]
    assert out.attention.shape[-1] == visual.num_tokens


def test_reversed_tokens_equal_encoding_reversed_frames(tiny_dirs, family):
    """With one frame per token group, reversing tokens == encoding the frames backwards."""
    qwen = issubclass(adapter_class(family), Qwen2VLBackend)  # two frames per group by default
    backend = load_cpu(tiny_dirs[family], **({"duplicate_frames": True} if qwen else {}))
    frames = random_frames(4, seed=13)
    forward = backend.encode(frames)
    backward = backend.encode(frames[::-1].copy())
    torch.testing.assert_close(
        forward.reversed_frames().embeds, backward.embeds, atol=1e-5, rtol=1e-5
    )


def test_qwen_duplicate_frames_and_odd_counts(tiny_dirs):
    plain = load_cpu(tiny_dirs["qwen2-vl"])
    odd = plain.encode(random_frames(5, seed=14))
    assert odd.layout.grid_shape == (3, 4, 4)  # 5 frames -> last one repeated -> 3 temporal patches
    assert odd.layout.group_of_frame.tolist() == [0, 0, 1, 1, 2]
    dup = load_cpu(tiny_dirs["qwen2-vl"], duplicate_frames=True)
    visual = dup.encode(random_frames(5, seed=14))
    assert visual.layout.grid_shape == (5, 4, 4)
    assert visual.layout.group_of_frame.tolist() == [0, 1, 2, 3, 4]
    assert visual.extra["frames_per_group"] == 1
    sized = load_cpu(tiny_dirs["qwen2-vl"], size=(56, 84))
    assert sized.encode(random_frames(2, 100, 100, seed=1)).layout.grid_shape == (1, 2, 3)
    with pytest.raises(ValueError, match="multiples of 28"):
        load_cpu(tiny_dirs["qwen2-vl"], size=(50, 84)).encode(random_frames(2, seed=1))


def test_qwen25_temporal_positions_follow_sample_fps(tiny_dirs):
    backend = load_cpu(tiny_dirs["qwen2.5-vl"])
    frames = random_frames(4, seed=15)
    slow = backend.encode(frames, timestamps=[0.0, 1.0, 2.0, 3.0])  # 1 fps: 2 s per temporal patch
    fast = backend.encode(frames, timestamps=[0.0, 0.25, 0.5, 0.75])  # 4 fps: 0.5 s
    assert slow.extra["second_per_grid_ts"] == 2.0 and fast.extra["second_per_grid_ts"] == 0.5
    ids = backend.prompt("Is there a dog?", slow).input_ids
    start = backend.prompt("Is there a dog?", slow).visual_start
    t_slow = backend._position_ids(ids, slow)[0, 0, start : start + slow.num_tokens]
    t_fast = backend._position_ids(ids, fast)[0, 0, start : start + fast.num_tokens]
    tokens_per_second = backend.model.config.vision_config.tokens_per_second
    # second temporal group: offset by tokens_per_second * seconds per group
    assert int(t_slow[16] - t_slow[0]) == int(tokens_per_second * 2.0)
    assert int(t_fast[16] - t_fast[0]) == int(tokens_per_second * 0.5)


def test_llava_onevision_pooling_and_newline_options(tiny_dirs):
    frames = random_frames(3, seed=16)
    stride4 = load_cpu(tiny_dirs["llava-onevision"], pool_stride=4).encode(frames)
    assert stride4.layout.grid_shape == (3, 2, 2) and stride4.num_tokens == 3 * 4 + 1
    stride3 = load_cpu(tiny_dirs["llava-onevision"], pool_stride=3).encode(frames)
    assert stride3.layout.grid_shape == (3, 3, 3)  # ceil(8 / 3)
    bare = load_cpu(tiny_dirs["llava-onevision"], newline="none").encode(frames)
    assert bare.num_tokens == 3 * 16 and (bare.layout.grid_index >= 0).all()
    with pytest.raises(ValueError, match="pool_stride"):
        load_cpu(tiny_dirs["llava-onevision"], pool_stride=0)
    with pytest.raises(TypeError, match="unknown option"):
        load_cpu(tiny_dirs["llava-onevision"], spatial_pool_stride=2)


def test_llava_next_video_pooling_options(tiny_dirs):
    frames = random_frames(2, seed=17)
    default = load_cpu(tiny_dirs["llava-next-video"])
    assert default.encode(frames).layout.grid_shape == (2, 4, 4)
    coarse = load_cpu(tiny_dirs["llava-next-video"], spatial_pool_stride=4)
    assert coarse.encode(frames).layout.grid_shape == (2, 2, 2)
    after = load_cpu(tiny_dirs["llava-next-video"], pool_after_projector=True)
    a, b = after.encode(frames), default.encode(frames)
    assert a.embeds.shape == b.embeds.shape and not torch.allclose(a.embeds, b.embeds)
    with pytest.raises(ValueError, match="exceeds"):
        load_cpu(tiny_dirs["llava-next-video"], spatial_pool_stride=9)
