"""Pixel preprocessing equals transformers' PIL image processors bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tubescope.engine.backends.pixels import (
    PreprocessorConfig,
    check_frames,
    qwen_frame_size,
    qwen_patchify,
    rescale_normalize,
)

from tests.engine.backends.helpers import load_cpu, random_frames


@pytest.mark.parametrize(("height", "width"), [(112, 112), (100, 150), (211, 97), (300, 400)])
def test_qwen_patchify_bit_exact_against_official_image_processor(backends, height, width):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    backend = backends["qwen2-vl"]
    pre = backend.preprocessor
    frame = random_frames(1, height, width, seed=height)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = Qwen2VLImageProcessorPil(min_pixels=pre.min_pixels, max_pixels=pre.max_pixels)(
            images=[frame], return_tensors="np"
        )
    # an image is one frame repeated into a temporal patch
    patches, grid, per_group = backend.pixel_values(np.stack([frame, frame]))
    assert per_group == 2
    assert list(grid) == official["image_grid_thw"][0].tolist()
    assert patches.dtype == official["pixel_values"].dtype == np.float32
    assert np.array_equal(patches, official["pixel_values"])  # max abs diff 0.0


def test_qwen_patchify_layout_by_hand():
    """Token (t, r, c) holds frames 2t, 2t+1 of the 28 x 28 cell (r, c), patches row-major."""
    pixels = np.arange(4 * 3 * 56 * 84, dtype=np.float32).reshape(4, 3, 56, 84)
    patches, grid = qwen_patchify(pixels)
    assert grid == (2, 4, 6) and patches.shape == (48, 3 * 2 * 14 * 14)
    rows = patches.reshape(2, 2, 3, 2, 2, 3, 2, 14, 14)  # (t, r, c, mh, mw, C, T, p, p)
    t, r, c, mh, mw = 1, 1, 2, 0, 1
    y, x = (r * 2 + mh) * 14, (c * 2 + mw) * 14
    assert np.array_equal(rows[t, r, c, mh, mw, :, 1], pixels[2 * t + 1, :, y : y + 14, x : x + 14])
    odd, grid_odd = qwen_patchify(pixels[:3])
    assert grid_odd == (2, 4, 6)
    assert np.array_equal(
        odd.reshape(2, -1, 3, 2, 14, 14)[1, :, :, 1], odd.reshape(2, -1, 3, 2, 14, 14)[1, :, :, 0]
    )
    with pytest.raises(ValueError, match="multiple of 28"):
        qwen_patchify(pixels[:, :, :50])


def test_qwen_frame_size_budget():
    assert qwen_frame_size(112, 112, min_pixels=3136, max_pixels=50176) == (112, 112)
    h, w = qwen_frame_size(360, 640, min_pixels=3136, max_pixels=50176)
    assert h % 28 == 0 and w % 28 == 0 and h * w <= 50176


def test_llava_onevision_pixels_equal_official_processor(backends):
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    backend = backends["llava-onevision"]
    pre = backend.preprocessor
    frames = random_frames(2, 150, 150, seed=3)  # square: the processor pads nothing and resizes
    processor = LlavaOnevisionImageProcessorPil(
        size={"height": 112, "width": 112},
        image_mean=list(pre.image_mean),
        image_std=list(pre.image_std),
    )
    # several images in one sample take the processor's no-patching path: resize + normalise
    official = processor(images=[[frames[0], frames[1]]], return_tensors="np")["pixel_values"]
    ours = backend.pixel_values(frames)
    assert ours.shape == (2, 3, 112, 112)
    assert np.array_equal(ours, official.reshape(ours.shape))


def test_llava_next_video_pixels_equal_clip_processor(tiny_dirs):
    """frame_fit="crop" is the checkpoint processor's preprocessing, bit for bit."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    backend = load_cpu(tiny_dirs["llava-next-video"], frame_fit="crop")
    pre = backend.preprocessor
    frames = random_frames(2, 120, 170, seed=4)
    official = CLIPImageProcessorPil(
        size={"shortest_edge": 112},
        crop_size={"height": 112, "width": 112},
        image_mean=list(pre.image_mean),
        image_std=list(pre.image_std),
    )(images=list(frames), return_tensors="np")["pixel_values"]
    ours = backend.pixel_values(frames)
    assert ours.shape == (2, 3, 112, 112)
    assert np.array_equal(ours, official)
    assert backend.frame_view(120, 170) == (23 / 158, 0.0, 135 / 158, 1.0)  # columns 23..135 of 158


def test_preprocessor_config_reading(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(
        '{"image_mean": [0.5, 0.5, 0.5], "image_std": 0.5, '
        '"size": {"shortest_edge": 3136, "longest_edge": 9999}}'
    )
    (tmp_path / "video_preprocessor_config.json").write_text('{"max_pixels": 5000, "resample": 2}')
    cfg = PreprocessorConfig.from_dir(tmp_path, patch_size=14)
    assert cfg.image_std == (0.5, 0.5, 0.5) and cfg.min_pixels == 3136 and cfg.max_pixels == 5000
    assert cfg.resample == 2 and cfg.patch_size == 14 and len(cfg.sources) == 2
    (tmp_path / "video_preprocessor_config.json").write_text('{"image_mean": [1, 2]}')
    with pytest.raises(ValueError, match="image_mean"):
        PreprocessorConfig.from_dir(tmp_path)


def test_rescale_normalize_and_frame_checks():
    frames = np.full((1, 2, 2, 3), 255, dtype=np.uint8)
    out = rescale_normalize(frames, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    assert out.shape == (1, 3, 2, 2) and out.dtype == np.float32
    assert np.allclose(out[0, :, 0, 0], [2.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="uint8"):
        check_frames(np.zeros((1, 4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        check_frames(np.zeros((4, 4, 3), dtype=np.uint8))
    assert check_frames([np.zeros((4, 4, 3), np.uint8)] * 2).shape == (2, 4, 4, 3)
