"""Precomputed proposals: our JSON and the official per-video JSON, round trips, mismatches."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tubescope import Track, Video
from tubescope.errors import ProposalError
from tubescope.proposals import (
    PrecomputedProposals,
    read_official_proposals,
    read_proposal_file,
    read_tracks,
    resolve_proposals,
    write_tracks,
)
from tubescope.synthetic import make_clip

W, H, N = 64, 48, 31


@pytest.fixture
def video():
    return Video(np.zeros((N, H, W, 3), np.uint8))


def _mask(box, height=H, width=W):
    m = np.zeros((height, width), bool)
    x1, y1, x2, y2 = (int(v) for v in box)
    m[y1:y2, x1:x2] = True
    return m


def _tracks():
    boxes = [[2, 3, 12, 20], [5, 3, 15, 20], [9, 4, 19, 21]]
    return [
        Track(
            0,
            frames=[0, 10, 20],
            boxes=boxes,
            masks=[Track.encode_mask(_mask(b)) for b in boxes[:2]] + [None],
            label="person",
            scores=[0.9, 0.8, 0.7],
        ),
        Track("p-7", frames=[30], boxes=[[40, 10, 64, 48]]),
    ]


def _official(frames=(0, 10, 20, 30), *, width=W, height=H, names=None, scale=1):
    """An official file: two tracks; track 1 is absent (zero box, empty mask) on frame 10.

    ``scale`` multiplies the boxes and the mask size (for a video ``scale`` times larger).
    """
    size = (H * scale, W * scale)

    def rle(box):
        if box is None:
            return Track.encode_mask(np.zeros(size, bool))
        return Track.encode_mask(_mask([v * scale for v in box], *size))

    present = {
        0: [[2, 3, 12, 20], [5, 3, 15, 20], [9, 4, 19, 21], [12, 4, 22, 21]],
        1: [[30, 30, 40, 40], None, [34, 30, 44, 40], [36, 30, 46, 40]],
    }
    keys = names or ("obj_id", "bbox", "segmentation", "category", "fmt", "W", "H")
    tracks = []
    for tid, boxes in present.items():
        tracks.append(
            {
                keys[0]: tid,
                # one 1x4 box per sample frame
                keys[1]: [
                    [[v * scale for v in b]] if b is not None else [[0, 0, 0, 0]] for b in boxes
                ],
                keys[2]: [rle(b) for b in boxes],
                keys[3]: "person",
                keys[4]: "xyxy",
                keys[5]: width * scale,
                keys[6]: height * scale,
            }
        )
    return {"sample_frames": [f"{f:05d}.jpg" for f in frames], "dino_sam2_proposals": tracks}


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------------------- our format
def test_our_format_round_trip(tmp_path, video):
    path = tmp_path / "tracks.json"
    write_tracks(path, _tracks())
    back = read_tracks(path, video)
    assert back == _tracks()
    np.testing.assert_array_equal(back[0].mask_at(10), _mask([5, 3, 15, 20]))
    assert back[0].mask_at(20) is None
    assert json.loads(path.read_text())[1]["track_id"] == "p-7"
    assert read_proposal_file(path, video) == _tracks()
    assert list(tmp_path.iterdir()) == [path]  # the atomic write left no temporary file


def test_our_format_errors_name_file_track_and_field(tmp_path, video):
    path = tmp_path / "bad.json"
    data = [t.to_dict() for t in _tracks()]
    del data[1]["boxes"]
    _write(path, data)
    with pytest.raises(ProposalError, match=re.escape(f"{path}: track [1]") + ".*boxes"):
        read_tracks(path)
    data = [t.to_dict() for t in _tracks()]
    data[0]["boxes"][1] = [5, 3, 1, 20]
    _write(path, data)
    with pytest.raises(ProposalError, match=r"track \[0\].*boxes\[1\].*x1 > x2"):
        read_tracks(path)
    _write(path, {"tracks": []})
    with pytest.raises(ProposalError, match="expected a JSON list of tracks"):
        read_tracks(path)
    path.write_text("[{")
    with pytest.raises(ProposalError, match=f"{re.escape(str(path))}: not valid JSON"):
        read_tracks(path)
    with pytest.raises(ProposalError, match="no such proposal file"):
        read_tracks(tmp_path / "missing.json")
    with pytest.raises(ProposalError, match="repeats"):
        write_tracks(path, [_tracks()[0], _tracks()[0]])


def test_our_format_mismatches_with_the_video(tmp_path):
    path = tmp_path / "t.json"
    write_tracks(path, _tracks())
    short = Video(np.zeros((25, H, W, 3), np.uint8))
    with pytest.raises(
        ProposalError, match=r"t\.json: track \[1\].*frame 30 is beyond the video's 25 frames"
    ):
        read_tracks(path, short)
    small = Video(np.zeros((N, 40, 60, 3), np.uint8))
    write_tracks(path, _tracks()[1:])  # no masks: the box is what does not fit
    with pytest.raises(
        ProposalError,
        match=r"t\.json: track \[0\] \(id 'p-7'\) boxes\[0\].*outside the 60x40 video",
    ):
        read_tracks(path, small)
    write_tracks(path, _tracks()[:1])
    with pytest.raises(
        ProposalError, match=r"t\.json: track \[0\].*masks\[0\].*64x48 does not match the 60x40"
    ):
        read_tracks(path, small)


# ---------------------------------------------------------------------------- official format
def test_official_format_unpacked_by_position(tmp_path, video):
    path = _write(tmp_path / "v.json", _official())
    tracks = read_official_proposals(path, video)
    assert [t.track_id for t in tracks] == [0, 1]
    a, b = tracks
    assert a.frames.tolist() == [0, 10, 20, 30] and a.label == "person"
    np.testing.assert_allclose(a.boxes[1], [5, 3, 15, 20])
    assert b.frames.tolist() == [0, 20, 30]  # absent on frame 10: zero box + empty mask dropped
    np.testing.assert_array_equal(b.mask_at(20), _mask([34, 30, 44, 40]))
    # absent on frame 10: marked so, and no box there nor interpolated across it (issue 17)
    assert b.absent.tolist() == [10] and b.mask_at(10) is None and b.box_at(10) is None
    assert b.box_at(5) is None and b.box_at(25) is not None and b.runs == ((0, 0), (20, 30))
    # other key names, same positions -> same tracks
    other = _write(tmp_path / "w.json", _official(names=tuple("abcdefg")))
    assert read_official_proposals(other, video) == tracks
    assert read_proposal_file(path, video) == tracks


def test_official_format_round_trips_into_ours(tmp_path, video):
    tracks = read_official_proposals(_write(tmp_path / "v.json", _official()), video)
    ours = tmp_path / "ours.json"
    write_tracks(ours, tracks)
    assert read_tracks(ours, video) == tracks


def test_official_format_variants(tmp_path, video):
    data = _official()
    for track in data["dino_sam2_proposals"]:
        keys = list(track)
        track[keys[1]] = [b[0] for b in track[keys[1]]]  # flat boxes instead of 1x4
        track[keys[4]] = "XYWH"
        track[keys[1]] = [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in track[keys[1]]]
    tracks = read_official_proposals(_write(tmp_path / "v.json", data), video)
    np.testing.assert_allclose(tracks[0].boxes[1], [5, 3, 15, 20])
    # masks keyed by frame name, boxes as a list; frame numbers from 1
    data = _official(frames=(1, 11, 21, 31))
    for track in data["dino_sam2_proposals"]:
        keys = list(track)
        track[keys[2]] = dict(zip(data["sample_frames"], track[keys[2]]))
    tracks = read_official_proposals(_write(tmp_path / "v1.json", data), video, frame_offset=1)
    assert tracks[0].frames.tolist() == [0, 10, 20, 30]


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda d: d.pop("sample_frames"), r"missing field 'sample_frames'"),
        (
            lambda d: d["sample_frames"].append("frame.jpg"),
            r"sample_frames\[4\]: frame name 'frame.jpg'",
        ),
        (
            lambda d: d["sample_frames"].reverse(),
            r"sample_frames\[1\]: frame 20 does not come after frame 30",
        ),
        (
            lambda d: d["dino_sam2_proposals"][1].pop("H"),
            r"dino_sam2_proposals\[1\]: expected an object with 7 fields",
        ),
        (
            lambda d: d["dino_sam2_proposals"][0]["bbox"].pop(),
            r"dino_sam2_proposals\[0\] field 'bbox' \(bboxes\): 3 entries for 4 sample_frames",
        ),
        (
            lambda d: d["dino_sam2_proposals"][0]["bbox"].__setitem__(2, [[1, 2, 3]]),
            r"\[0\] field 'bbox' \(bboxes\)\[2\]: expected 4 numbers",
        ),
        (
            lambda d: d["dino_sam2_proposals"][0]["bbox"].__setitem__(2, "box"),
            r"\(bboxes\)\[2\]: expected 4 numbers",
        ),
        (
            lambda d: d["dino_sam2_proposals"][0].__setitem__("fmt", "cxcywh"),
            r"field 'fmt' \(box_format\): unsupported box format 'cxcywh'",
        ),
        (
            lambda d: d["dino_sam2_proposals"][0]["segmentation"].__setitem__(
                1, {"size": [48, 64]}
            ),
            r"field 'segmentation': masks\[1\]",
        ),
        (
            lambda d: d["dino_sam2_proposals"][0].__setitem__("W", "wide"),
            r"field 'W' \(img_width\): expected a positive size",
        ),
        (
            lambda d: d["dino_sam2_proposals"][1].__setitem__("obj_id", 0),
            r"dino_sam2_proposals\[1\] \(track 0\): track_id 0 repeats",
        ),
        (
            lambda d: d.__setitem__("dino_sam2_proposals", {}),
            r"'dino_sam2_proposals' must be a list",
        ),
    ],
)
def test_malformed_official_files_name_the_file_and_field(tmp_path, mutate, pattern):
    data = _official()
    mutate(data)
    path = _write(tmp_path / "bad.json", data)
    with pytest.raises(ProposalError, match=re.escape(str(path)) + ".*" + pattern):
        read_official_proposals(path)


def test_official_mismatches_with_the_video(tmp_path, video):
    path = _write(tmp_path / "v.json", _official(frames=(0, 10, 20, 40)))
    with pytest.raises(
        ProposalError,
        match=r"v\.json: sample_frames\[3\] = '00040.jpg' is frame 40 "
        r"but the video has 31 frames \(frame count mismatch\)",
    ):
        read_official_proposals(path, video)
    path = _write(tmp_path / "v.json", _official(width=128, height=96))
    with pytest.raises(
        ProposalError,
        match=r"v\.json: dino_sam2_proposals\[0\] \(track 0\): img_width x img_height "
        r"is 128x96 but the video is 64x48 \(size mismatch\)",
    ):
        read_official_proposals(path, video)
    data = _official()
    for track in data["dino_sam2_proposals"]:  # right declared size, masks at another size
        track["segmentation"] = [Track.encode_mask(np.ones((24, 32), bool))] * 4
    path = _write(tmp_path / "v.json", data)
    with pytest.raises(
        ProposalError,
        match=r"dino_sam2_proposals\[0\] \(track 0\) masks\[0\]"
        r".*32x24 does not match the 64x48 video",
    ):
        read_official_proposals(path, video)
    data = _official()
    data["dino_sam2_proposals"][1]["bbox"][3] = [[36, 30, 90, 40]]
    path = _write(tmp_path / "v.json", data)
    with pytest.raises(
        ProposalError,
        match=r"dino_sam2_proposals\[1\] \(track 1\) boxes\[2\] \(frame 30\)"
        r".*outside the 64x48 video",
    ):
        read_official_proposals(path, video)


def test_unrecognised_file(tmp_path):
    path = _write(tmp_path / "x.json", {"tracks": []})
    with pytest.raises(ProposalError, match="unrecognised proposal file"):
        read_proposal_file(path)


# ---------------------------------------------------------------------------- the source
@pytest.fixture(scope="module")
def file_video(tmp_path_factory):
    root = tmp_path_factory.mktemp("pv")
    clip = make_clip(root / "clip7.mp4", width=W * 2, height=H * 2, num_frames=N, seed=3)
    with Video(clip.path) as v:
        yield v


def test_source_over_a_directory_of_per_video_files(tmp_path, file_video):
    _write(tmp_path / "clip7.json", _official(scale=2))
    source = resolve_proposals(f"precomputed:{tmp_path}")
    assert source.name == "precomputed"
    tracks = source.tracks(file_video)
    assert [t.track_id for t in tracks] == [0, 1]
    assert source.tracks(file_video) == tracks
    assert [t.track_id for t in source.tracks(file_video, frames=[5])] == [0, 1]
    with pytest.raises(ProposalError, match="in-memory array"):
        source.tracks(Video(np.zeros((N, H, W, 3), np.uint8)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        ProposalError,
        match=r"no proposals for video 'clip7' \(looked for clip7.json and clip7/\*.json\)",
    ):
        PrecomputedProposals(tmp_path / "empty").tracks(file_video)


def test_source_over_a_vidstg_style_directory(tmp_path, file_video):
    folder = tmp_path / "clip7"
    folder.mkdir()
    _write(folder / "a.json", _official(scale=2))
    _write(folder / "b.json", _official(scale=2))
    tracks = PrecomputedProposals(tmp_path).tracks(file_video)
    assert [t.track_id for t in tracks] == ["a:0", "a:1", "b:0", "b:1"]
    (folder / "a.json").unlink()
    (folder / "b.json").unlink()
    with pytest.raises(ProposalError, match="holds no .json file"):
        PrecomputedProposals(tmp_path).tracks(file_video)


def test_source_over_one_file_checks_the_video(tmp_path, video):
    path = tmp_path / "t.json"
    write_tracks(path, _tracks())
    source = PrecomputedProposals(path)
    assert source.tracks(video) == _tracks()
    assert source.tracks(video, frames=[15]) == _tracks()[:1]
    with pytest.raises(
        ProposalError,
        match=r"track \[0\] \(id 0\) frames\[2\]: frame 20 is beyond the video's 20 frames",
    ):
        source.tracks(Video(np.zeros((20, H, W, 3), np.uint8)))
    with pytest.raises(ProposalError, match="no such proposal file or directory"):
        resolve_proposals(f"precomputed:{tmp_path / 'nope.json'}")
