"""Video I/O: metadata, sampling, frame-exact random access, streaming, timestamps, bad inputs."""

from __future__ import annotations

import tracemalloc

import av
import numpy as np
import pytest

from tubescope.errors import VideoError
from tubescope.synthetic import make_clip, read_barcode
from tubescope.video import Video, uniform_indices
from tubescope.videoreaders.keyframes import KeyframeReader, _Decoder

BACKENDS = ["decord", "pyav"]


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize(("n", "start", "end"), [(20, 0, 100), (20, 0, 97), (7, 13, 500), (20, 5, 12), (1, 3, 9), (5, 0, 1)])
def test_uniform_indices_follow_the_official_linspace_rule(n, start, end):
    # official: np.linspace(0, count - 1, n) truncated to int, offset by the span start
    expected = [start + int(v) for v in np.linspace(0, end - start - 1, n)]
    assert uniform_indices(n, start, end).tolist() == expected


def test_uniform_indices_examples():
    assert uniform_indices(5, 0, 100).tolist() == [0, 24, 49, 74, 99]
    assert uniform_indices(4, 10, 12).tolist() == [10, 10, 10, 11]  # repeats when the span is short
    with pytest.raises(ValueError, match="empty"):
        uniform_indices(3, 5, 5)
    with pytest.raises(ValueError, match="at least 1"):
        uniform_indices(0, 0, 5)


def test_video_sample_uses_span_and_checks_it(h264_clip):
    video = Video(h264_clip.path)
    assert video.sample(20).tolist() == uniform_indices(20, 0, 120).tolist()
    assert video.sample(4, span=(30, 60)).tolist() == [30, 39, 49, 59]
    with pytest.raises(VideoError, match=r"span \[100, 130\) is not inside \[0, 120\)"):
        video.sample(4, span=(100, 130))


# ---------------------------------------------------------------- metadata
@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_of_h264_clip(h264_clip, backend):
    video = Video(h264_clip.path, backend=backend)
    info = video.info
    assert (info.frame_count, info.width, info.height) == (120, 320, 240)
    assert video.fps == 30 and info.fps_fraction == "30/1"
    assert info.duration == pytest.approx(4.0)
    assert info.codec == "h264" and info.backend == backend
    np.testing.assert_allclose(video.timestamps, np.arange(120) / 30, atol=1e-9)


def test_ntsc_rate_is_kept_exact(mpeg4_clip):
    video = Video(mpeg4_clip.path)
    assert video.fps.numerator == 30000 and video.fps.denominator == 1001
    assert video.info.fps_fraction == "30000/1001"
    assert video.frame_count == 60
    np.testing.assert_allclose(video.timestamps, np.arange(60) * 1001 / 30000, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_frame_rate_timestamps_come_from_the_container(vfr_clip, backend):
    video = Video(vfr_clip.path, backend=backend)
    assert video.frame_count == 40
    np.testing.assert_allclose(video.timestamps, vfr_clip.timestamps, atol=1e-3)
    gaps = np.diff(video.timestamps)
    assert gaps.max() > 10 * gaps.min()  # really variable, not index / fps
    frames = list(video.iter_frames(5, 12))
    np.testing.assert_allclose([f.time for f in frames], vfr_clip.timestamps[5:12], atol=1e-3)
    assert [read_barcode(f.image) for f in frames] == list(range(5, 12))


# ---------------------------------------------------------------- random access
@pytest.mark.parametrize("backend", BACKENDS)
def test_get_frames_is_frame_exact_in_any_order(h264_clip, backend):
    video = Video(h264_clip.path, backend=backend)
    indices = [119, 0, 57, 58, 3, 57, 90]
    frames = video.get_frames(indices)
    assert frames.shape == (7, 240, 320, 3) and frames.dtype == np.uint8
    assert [read_barcode(f) for f in frames] == indices
    assert read_barcode(video[64]) == 64


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoded_pixels_match_the_rendered_clip(h264_clip, backend):
    rendered = h264_clip.to_array()
    decoded = Video(h264_clip.path, backend=backend).get_frames([10, 80])
    error = np.abs(decoded.astype(int) - rendered[[10, 80]].astype(int)).mean()
    assert error < 4  # lossy H.264 at CRF 18, but the same frames


@pytest.mark.parametrize("backend", BACKENDS)
def test_uniform_sample_of_a_long_gop_clip(tmp_path, backend):
    clip = make_clip(tmp_path / "long.mp4", num_frames=300, fps=30, seed=3)
    video = Video(clip.path, backend=backend)
    idx = video.sample(20)
    assert [read_barcode(f) for f in video.get_frames(idx)] == idx.tolist()


@pytest.mark.parametrize("fixture", ["h264_clip", "mpeg4_clip", "vfr_clip"])
def test_random_access_is_bit_identical_to_sequential_decoding(request, fixture):
    clip = request.getfixturevalue(fixture)
    video = Video(clip.path, backend="pyav")
    sequential = np.stack([f.image for f in video.iter_frames()])
    rng = np.random.default_rng(0)
    indices = rng.choice(clip.num_frames, size=12, replace=False)
    np.testing.assert_array_equal(video.get_frames(indices), sequential[indices])


def test_auto_backend_reads_indexed_files_with_pyav(h264_clip):
    assert Video(h264_clip.path).backend == "pyav"


def test_random_access_falls_back_to_decoding_from_the_start(h264_clip, monkeypatch):
    video = Video(h264_clip.path, backend="pyav")
    monkeypatch.setattr(KeyframeReader, "_decode_chunk", lambda self, targets: {})  # every seek "missed"
    indices = [100, 3, 64]
    assert [read_barcode(f) for f in video.get_frames(indices)] == indices


def test_a_seek_that_lands_past_its_keyframe_is_retried_earlier(tmp_path, monkeypatch):
    """What FFmpeg's MPEG-TS seek does: land a GOP late. The reader notices (the keyframe
    packet never comes) and seeks to an earlier keyframe, then demuxes forward to it."""
    clip = make_clip(tmp_path / "two_gops.mp4", num_frames=300, fps=30, seed=3)  # keyframes at 0 and 250
    refused = []
    original = _Decoder._seek_to

    def late(self, target, key):
        if target != int(self.reader.keys[0]):
            refused.append(target)
            return None  # landed past the keyframe
        return original(self, target, key)

    monkeypatch.setattr(_Decoder, "_seek_to", late)
    video = Video(clip.path, backend="pyav")
    indices = [299, 260, 3]
    assert [read_barcode(f) for f in video.get_frames(indices)] == indices
    assert [read_barcode(f.image) for f in video.iter_frames(280, 283)] == [280, 281, 282]
    assert refused


def test_out_of_range_and_bad_indices(h264_clip):
    video = Video(h264_clip.path)
    with pytest.raises(VideoError, match=r"shapes.mp4: frame index 120 is out of range \[0, 120\)"):
        video.get_frames([0, 120])
    with pytest.raises(VideoError, match="frame index -1 is out of range"):
        video.get_frames([-1])
    with pytest.raises(VideoError, match="flat list of integers"):
        video.get_frames([0.5])
    assert video.get_frames([]).shape == (0, 240, 320, 3)


@pytest.mark.parametrize(("suffix", "codec"), [("mkv", "h264"), ("webm", "vp9"), ("mov", "h264"), ("mp4", "mpeg4")])
def test_other_containers(tmp_path, suffix, codec):
    clip = make_clip(tmp_path / f"c.{suffix}", num_frames=30, fps=15, codec=codec, seed=1)
    for backend in BACKENDS:
        video = Video(clip.path, backend=backend)
        assert video.frame_count == 30 and video.fps == 15
        assert [read_barcode(f) for f in video.get_frames([29, 0, 14])] == [29, 0, 14]


# ---------------------------------------------------------------- streaming
@pytest.mark.parametrize("backend", BACKENDS)
def test_iter_frames_ranges_and_steps(h264_clip, backend):
    video = Video(h264_clip.path, backend=backend)
    frames = list(video.iter_frames())
    assert [f.index for f in frames] == list(range(120))
    assert all(read_barcode(f.image) == f.index for f in frames)
    strided = list(video.iter_frames(7, 100, 13))
    assert [f.index for f in strided] == list(range(7, 100, 13))
    assert all(read_barcode(f.image) == f.index for f in strided)
    assert [f.time for f in strided] == pytest.approx([i / 30 for i in range(7, 100, 13)])
    assert list(video.iter_frames(50, 50)) == []
    with pytest.raises(VideoError, match=r"range \[0, 121\)"):
        list(video.iter_frames(0, 121))


def test_iter_frames_memory_stays_bounded(tmp_path):
    clip = make_clip(tmp_path / "long.mp4", num_frames=240, width=320, height=240, fps=30, seed=5)
    frame_bytes = 320 * 240 * 3
    video = Video(clip.path)
    tracemalloc.start()
    try:
        count = 0
        for frame in video.iter_frames():
            assert read_barcode(frame.image) == frame.index
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 240
    # the whole clip is 240 frames; streaming holds a handful at most
    assert peak < 8 * frame_bytes, f"peak {peak / frame_bytes:.1f} frames"


def test_array_source():
    array = np.zeros((6, 8, 10, 3), dtype=np.uint8)
    array[:, 0, 0, 0] = np.arange(6)
    video = Video(array, fps=2)
    assert (video.frame_count, video.width, video.height, video.fps) == (6, 10, 8, 2)
    assert video.get_frames([5, 1])[:, 0, 0, 0].tolist() == [5, 1]
    assert [(f.index, f.time) for f in video.iter_frames(1, 6, 2)] == [(1, 0.5), (3, 1.5), (5, 2.5)]
    assert video.info.path is None and video.info.backend == "array"
    with pytest.raises(VideoError, match="uint8"):
        Video(np.zeros((2, 4, 4, 3), dtype=np.float32))
    with pytest.raises(VideoError, match="has no frames"):
        Video(np.zeros((0, 4, 4, 3), dtype=np.uint8))


# ---------------------------------------------------------------- bad inputs
def test_missing_file_and_directory(tmp_path):
    with pytest.raises(VideoError, match=r"nope\.mp4: no such file"):
        Video(tmp_path / "nope.mp4")
    with pytest.raises(VideoError, match="is a directory"):
        Video(tmp_path)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.mp4: is an empty file"):
        Video(tmp_path / "empty.mp4")


def test_text_file_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match=r"notes\.mp4: not a readable video file"):
        Video(path)


def test_truncated_file_with_index_at_the_end(tmp_path, h264_clip):
    data = h264_clip.path.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=r"cut\.mp4: not a readable video file"):
        Video(path)


def test_truncated_file_with_index_at_the_front(tmp_path):
    clip = make_clip(tmp_path / "fs.mp4", num_frames=120, seed=3, faststart=True)
    data = clip.path.read_bytes()
    path = tmp_path / "cut_fs.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=r"cut_fs\.mp4: truncated: the container declares 120 frames but only \d+ are present"):
        Video(path)


def test_garbage_after_a_valid_header(tmp_path, h264_clip):
    data = bytearray(h264_clip.path.read_bytes())
    data[64:] = bytes(len(data) - 64)  # keep the signature, zero the rest
    path = tmp_path / "zeroed.mp4"
    path.write_bytes(bytes(data))
    with pytest.raises(VideoError, match=r"zeroed\.mp4: "):
        Video(path)


def test_file_without_frames(tmp_path):
    path = tmp_path / "none.mkv"
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    container.start_encoding()
    container.close()
    with pytest.raises(VideoError, match=r"none\.mkv: "):
        Video(path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "sound.mka"
    container = av.open(str(path), "w")
    stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono")
    frame.sample_rate = 8000
    for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    with pytest.raises(VideoError, match=r"sound\.mka: contains no video stream"):
        Video(path)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        Video(np.zeros((1, 2, 2, 3), np.uint8), backend="opencv")
