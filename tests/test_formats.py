"""The decode corpus (tests/ffmpeg_corpus.py): every kind of file people have, against FFmpeg.

For every file the local ``ffmpeg`` can make: ``Video.frame_count`` and ``tubescope info``
equal ``ffprobe -count_frames``; random access to any frame list (unsorted, repeated, sparse,
from a fresh decoder) returns the frames the ``ffmpeg`` tool decodes at those indices (same
barcode, same pixels within conversion tolerance); timestamps are FFmpeg's
``best_effort_timestamp`` times; rotated video comes out as players show it. Then the
consumers: the CCTV folder source, ``tubescope run``'s video lookup and ``tubescope render``
accept every container of the corpus. Files this FFmpeg cannot make skip, naming the encoder
it lacks; without ffmpeg the module skips, naming scripts/system-deps.sh.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests import ffmpeg_corpus
from tests.ffmpeg_corpus import RECIPES, CorpusFile
from tubescope.cli.main import cli
from tubescope.errors import VideoError
from tubescope.synthetic import BARCODE_HEIGHT
from tubescope.video import Video, uniform_indices

NAMES = [recipe.name for recipe in RECIPES]
# mean absolute RGB difference allowed between our frame and the ffmpeg tool's: both decode
# bit-exactly; only the YUV->RGB conversion of two FFmpeg versions may round differently
PIXEL_TOLERANCE = 1.0


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CorpusFile | str]:
    reason = ffmpeg_corpus.tools_missing()
    if reason:
        pytest.skip(reason)
    return ffmpeg_corpus.build(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(params=NAMES)
def entry(request: pytest.FixtureRequest, corpus: dict[str, CorpusFile | str]) -> CorpusFile:
    found = corpus[request.param]
    if isinstance(found, str):
        pytest.skip(found)
    return found


def assert_same_frames(entry: CorpusFile, got: np.ndarray, indices: np.ndarray | list[int]) -> None:
    expected = entry.reference.frames[np.asarray(indices, dtype=np.int64)]
    assert got.shape == expected.shape
    assert entry.barcodes(got) == entry.barcodes(expected), f"{entry.name}: frames {list(indices)}"
    error = np.abs(got.astype(np.int16) - expected.astype(np.int16)).reshape(len(got), -1).mean(axis=1)
    assert error.max() < PIXEL_TOLERANCE, f"{entry.name}: frame {list(indices)[int(error.argmax())]} differs by {error.max():.2f}"


# ---------------------------------------------------------------- the corpus itself
def test_the_corpus_is_what_it_claims(corpus: dict[str, CorpusFile | str]) -> None:
    """The references hold what each recipe is about (else a test below could pass vacuously)."""
    built = {name: f for name, f in corpus.items() if not isinstance(f, str)}
    assert "mp4_h264" in built, corpus["mp4_h264"]
    base = built["mp4_h264"].reference
    assert base.count == ffmpeg_corpus.FRAMES
    assert built["mp4_h264"].barcodes(base.frames) == list(range(ffmpeg_corpus.FRAMES))
    trimmed = built["mp4_trimmed"]
    first = trimmed.barcodes(trimmed.reference.frames[:1])[0]
    assert first > ffmpeg_corpus.GOP  # the edit list starts after a keyframe...
    assert trimmed.reference.count == ffmpeg_corpus.FRAMES - first  # ...and FFmpeg decodes the rest
    assert built["mp4_rotated_90"].reference.frames.shape[1:3] == (ffmpeg_corpus.WIDTH, ffmpeg_corpus.HEIGHT)
    late = built["ts_h264_joined_late"].reference
    assert 0 < late.count < ffmpeg_corpus.FRAMES
    vfr = np.diff([t for t in built["mp4_vfr"].reference.times if t is not None])
    assert vfr.max() > 2 * vfr.min()
    if "ts_missing_pts" in built:
        assert None in built["ts_missing_pts"].reference.times
    offset = built["mkv_start_offset"].reference.times[0]
    assert offset is not None and offset >= 10
    repeated = built["mp4_repeated_pts"].reference.times
    assert len(set(repeated)) < len(repeated)


def test_files_without_usable_timestamps_are_read_from_the_start(corpus: dict[str, CorpusFile | str]) -> None:
    """The reader says when it cannot seek (no pts, made-up AVI pts, repeated pts)."""
    for name in ("avi_h264", "ts_missing_pts", "mp4_repeated_pts"):
        found = corpus[name]
        if isinstance(found, str):
            continue
        assert "start of the file" in (Video(found.path).backend_note or ""), name
    for name in ("mp4_h264", "ts_h264", "mp4_trimmed", "mkv_vp9", "avi_mjpeg"):
        found = corpus[name]
        if not isinstance(found, str):
            assert Video(found.path).backend_note is None, name


# ---------------------------------------------------------------- every file against FFmpeg
def test_frame_count_and_size_match_ffprobe_and_info(entry: CorpusFile) -> None:
    ref = entry.reference
    video = Video(entry.path)
    height, width = ref.frames.shape[1:3]
    assert (video.frame_count, video.width, video.height) == (ref.count, width, height)
    if entry.name not in ("mp4_vfr", "mp4_repeated_pts"):  # constant rate: exact, whatever the container says
        assert video.fps == ffmpeg_corpus.FPS
        assert video.duration == pytest.approx(ref.count / ffmpeg_corpus.FPS, abs=1e-3)  # mkv: a 1 ms clock
    result = CliRunner().invoke(cli, ["info", "--json", str(entry.path)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert (info["frame_count"], info["width"], info["height"]) == (ref.count, width, height)


def test_random_access_returns_the_frames_ffmpeg_decodes(entry: CorpusFile) -> None:
    count = entry.reference.count
    rng = np.random.default_rng(15)
    everything = np.concatenate([rng.permutation(count), [count - 1, 0, count // 2, count // 2]])
    assert_same_frames(entry, Video(entry.path).get_frames(everything), everything)
    sparse = list(range(count - 1, -1, -5)) + [3, 3]  # unsorted, repeated, gaps inside GOPs
    assert_same_frames(entry, Video(entry.path).get_frames(sparse), sparse)
    gop = ffmpeg_corpus.GOP
    for index in sorted({0, 1, gop - 1, gop, gop + 1, count // 2, count - 2, count - 1} & set(range(count))):
        video = Video(entry.path)  # a fresh decoder: the frame must come from a seek
        assert_same_frames(entry, video[index][None], [index])


def test_streaming_returns_the_frames_ffmpeg_decodes(entry: CorpusFile) -> None:
    video = Video(entry.path)
    frames = list(video.iter_frames())
    assert [f.index for f in frames] == list(range(entry.reference.count))
    assert_same_frames(entry, np.stack([f.image for f in frames]), range(len(frames)))
    strided = list(video.iter_frames(2, None, 7))
    assert [f.index for f in strided] == list(range(2, entry.reference.count, 7))
    assert_same_frames(entry, np.stack([f.image for f in strided]), [f.index for f in strided])
    assert [f.time for f in strided] == [float(video.timestamps[f.index]) for f in strided]


def test_timestamps_are_ffmpeg_best_effort_times(entry: CorpusFile) -> None:
    """Seconds from frame 0; where FFmpeg knows no time, ours lies between the neighbours'."""
    times = Video(entry.path).timestamps
    reference = entry.reference.times
    known = np.array([t is not None for t in reference])
    values = np.array([np.nan if t is None else t for t in reference])
    origin = values[known][0] - times[known][0]
    np.testing.assert_allclose(times[known], values[known] - origin, atol=2e-6)
    assert times[0] == 0.0
    assert (np.diff(times) >= 0).all()  # repeated only where FFmpeg repeats them (mp4_repeated_pts)
    assert (np.diff(times)[np.diff(values - origin) > 0] > 0).all()


def test_decord_is_frame_exact_or_refuses(entry: CorpusFile) -> None:
    """``backend="decord"`` never hands out a frame FFmpeg does not show at that index."""
    try:
        video = Video(entry.path, backend="decord")
    except VideoError as err:
        assert "backend='pyav'" in str(err) or "decord cannot open" in str(err)
        return
    indices = [entry.reference.count - 1, 0, entry.reference.count // 2, 1]
    assert_same_frames(entry, video.get_frames(indices), indices)


def test_rotated_video_comes_out_as_players_show_it(corpus: dict[str, CorpusFile | str]) -> None:
    rotated = corpus["mp4_rotated_90"]
    if isinstance(rotated, str):
        pytest.skip(rotated)
    video = Video(rotated.path)
    assert (video.width, video.height) == (ffmpeg_corpus.HEIGHT, ffmpeg_corpus.WIDTH)
    frame = video[5]
    assert frame.shape == (ffmpeg_corpus.WIDTH, ffmpeg_corpus.HEIGHT, 3)
    assert rotated.barcodes(frame[None]) == [5]
    # the black-and-white barcode strip of the coded top edge is now the left edge
    def two_toned(strip: np.ndarray) -> float:
        return float(((strip < 40) | (strip > 215)).mean())

    assert two_toned(frame[:, 1 : BARCODE_HEIGHT - 1]) > 0.95
    assert two_toned(frame[1 : BARCODE_HEIGHT - 1]) < 0.5


# ---------------------------------------------------------------- the consumers
def one_per_container(corpus: dict[str, CorpusFile | str]) -> list[CorpusFile]:
    """The first corpus file of each extension."""
    chosen: dict[str, CorpusFile] = {}
    for found in corpus.values():
        if not isinstance(found, str):
            chosen.setdefault(found.path.suffix, found)
    return list(chosen.values())


def test_cctv_folder_source_reads_every_container(corpus: dict[str, CorpusFile | str], tmp_path: Path) -> None:
    from tubescope.integrations.cctv.sources.folder import FolderSource

    files = one_per_container(corpus)
    exports = tmp_path / "exports"
    exports.mkdir()
    for found in files:
        shutil.copyfile(found.path, exports / f"{found.name}{found.path.suffix}")
    source = FolderSource(exports, settle=0, once=True, state_file=tmp_path / "state.json")
    seen: dict[str, list] = {}
    for frame in source.frames():
        seen.setdefault(Path(str(frame.file)).stem, []).append(frame)
    assert source.stats.files_skipped == 0
    assert sorted(seen) == sorted(f.name for f in files)
    for found in files:
        frames = seen[found.name]
        assert [f.position for f in frames] == list(range(found.reference.count))
        assert_same_frames(found, np.stack([f.image for f in frames]), range(len(frames)))


def test_run_finds_and_opens_every_container(corpus: dict[str, CorpusFile | str], tmp_path: Path) -> None:
    from tubescope.integrations.runs.plan import open_video, video_files

    files = one_per_container(corpus)
    for k, found in enumerate(files):
        folder = tmp_path / f"part{k % 2}"
        folder.mkdir(exist_ok=True)
        shutil.copyfile(found.path, folder / f"{found.name}{found.path.suffix}")
    resolver = video_files("vidstg", tmp_path)  # a nested layout: videos in sub-folders
    for found in files:
        path = resolver.resolve(found.name)
        assert path.name == f"{found.name}{found.path.suffix}"
        assert open_video(path).frame_count == found.reference.count


def test_render_writes_mp4_from_every_container(corpus: dict[str, CorpusFile | str], tmp_path: Path) -> None:
    """One file per container, plus the ones whose times are odd (repeated, missing, offset)."""
    from tubescope.render import render_result
    from tubescope.types import GroundingResult, Tube

    odd_times = [corpus[name] for name in ("mp4_repeated_pts", "ts_missing_pts", "mp4_vfr", "mp4_start_offset")]
    for found in one_per_container(corpus) + [f for f in odd_times if not isinstance(f, str)]:
        source = Video(found.path)
        count = source.frame_count
        box = [10.0, 20.0, 40.0, 60.0]
        tube = Tube(1, count - 1, frames=list(range(1, count - 1)), boxes=[box] * (count - 2), track_id=0)
        result = GroundingResult("the shape", tube, sampled_frames=[0, count - 1], frame_scores=[0.5, 0.5])
        out = render_result(source, result, tmp_path / f"{found.name}.mp4")
        rendered = Video(out)
        assert rendered.info.container.startswith("mov,mp4") and rendered.info.codec == "h264"
        assert rendered.frame_count == count
        np.testing.assert_allclose(rendered.timestamps, source.timestamps, atol=1e-3)


# ---------------------------------------------------------------- issue 15's reproductions
@pytest.fixture(scope="module")
def issue_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``ffmpeg -i long.mp4 -c copy -f mpegts x.ts`` and ``ffmpeg -ss 3 -i long.mp4 -c copy
    cut.mp4``, from an H.264 MP4 as tubescope writes it."""
    reason = ffmpeg_corpus.tools_missing()
    if reason:
        pytest.skip(reason)
    from tubescope.synthetic import make_clip

    work = tmp_path_factory.mktemp("issue15")
    long = make_clip(work / "long.mp4", num_frames=120, fps=30, seed=7).path
    ffmpeg_corpus.ffmpeg("-i", long, "-c", "copy", "-f", "mpegts", work / "x.ts")
    ffmpeg_corpus.ffmpeg("-ss", "3", "-i", long, "-c", "copy", work / "cut.mp4")
    return {"long": long, "ts": work / "x.ts", "cut": work / "cut.mp4"}


def ffprobe_count(path: Path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                          "stream=nb_read_frames", "-of", "default=nw=1:nk=1", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def test_issue_15_stream_copied_ts_reads_every_frame(issue_files: dict[str, Path]) -> None:
    from tubescope.synthetic import read_barcode

    video = Video(issue_files["ts"])  # failed with "the file ends before frame 0"
    assert video.frame_count == ffprobe_count(issue_files["ts"]) == 120
    indices = [0, 119, 60, 61, 0]
    assert [read_barcode(f) for f in video.get_frames(indices)] == indices


def test_issue_15_trimmed_mp4_counts_what_ffmpeg_decodes(issue_files: dict[str, Path]) -> None:
    from tubescope.synthetic import read_barcode

    video = Video(issue_files["cut"])
    assert video.frame_count == ffprobe_count(issue_files["cut"]) == 30  # was 120: the cut-away packets too
    assert video.duration == pytest.approx(1.0)
    assert [read_barcode(f) for f in video.get_frames([0, 29, 10])] == [90, 119, 100]
    result = CliRunner().invoke(cli, ["info", "--json", str(issue_files["cut"])])
    assert json.loads(result.output)["frame_count"] == 30


def test_issue_15_reproductions_ground_end_to_end(issue_files: dict[str, Path], tmp_path: Path) -> None:
    """``tubescope ground x.ts "..."`` and on the trimmed MP4, with a tiny random model."""
    from tubescope import GroundingResult
    from tubescope.testing import save_tiny_model

    model = save_tiny_model("llava-onevision", tmp_path / "tiny")
    for name, frames in (("ts", 120), ("cut", 30)):
        out = tmp_path / f"{name}.json"
        result = CliRunner().invoke(
            cli,
            ["ground", str(issue_files[name]), "the red thing", "--model", str(model), "--frames", "4",
             "--out", str(out), "--render", str(tmp_path / f"{name}.mp4")],
            env={"HF_HUB_OFFLINE": "1"},
        )
        assert result.exit_code == 0, result.output
        grounded = GroundingResult.from_json(out.read_text())
        assert list(grounded.sampled_frames) == uniform_indices(4, 0, frames).tolist()
        assert 0 <= grounded.tube.span[0] < grounded.tube.span[1] <= frames
        assert Video(tmp_path / f"{name}.mp4").frame_count == frames
