"""Ground-truth loaders: every format, conventions, and malformed input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from tests.eval.builders import (
    hcstvg_raw_record,
    vidor_file,
    vidstg_entry,
    vidstg_tubedetr_from_official,
    write_json,
)

from tubescope.errors import AnnotationError
from tubescope.eval import detect_annotation_format, load_annotations

BOXES = np.array([[210, 40, 300, 340], [212, 41, 302, 340], [214, 41, 305, 340]], dtype=float)


def raw_file(tmp_path: Path, v2: bool = False, **override) -> Path:
    rec = hcstvg_raw_record(500, 121, BOXES, caption="The woman turns.", v2=v2)
    rec.update(override)
    return write_json(
        tmp_path / ("val_v2.json" if v2 else "test.json"),
        {"7_demoClipA.mp4": rec, "8_other.mkv": hcstvg_raw_record(600, 1, BOXES[:1], v2=v2)},
    )


def test_hcstvg_v1_raw(tmp_path: Path) -> None:
    path = raw_file(tmp_path)
    queries = load_annotations(path, "hcstvg-v1")
    q = queries[0]
    assert (q.query_id, q.video_id, q.query, q.qtype, q.dataset) == (
        "7_demoClipA",
        "7_demoClipA",
        "The woman turns.",
        None,
        "hcstvg",
    )
    assert q.span == (120, 123) and q.st_frame == 121  # 1-based st_frame -> 0-based start
    assert q.frames.tolist() == [120, 121, 122]
    assert np.array_equal(q.boxes, BOXES)  # xywh -> xyxy as x + w, y + h
    assert (q.frame_count, q.fps, q.width, q.height, q.index) == (500, 25.0, 640, 360, 0)
    assert queries[1].span == (0, 1) and queries[1].index == 1 and queries[1].query_id == "8_other"
    assert detect_annotation_format(json.loads(path.read_text())) == "hcstvg-raw"


def test_hcstvg_v2_raw_uses_img_size_and_english(tmp_path: Path) -> None:
    q = load_annotations(raw_file(tmp_path, v2=True), "hcstvg-v2")[0]
    assert (q.width, q.height, q.query) == (640, 360, "The woman turns.")
    assert q.span == (120, 123)


def test_tubedetr_proc_equals_raw(tmp_path: Path) -> None:
    raw = json.loads(raw_file(tmp_path).read_text())
    proc = [
        {
            "original_video_id": name[:-4],
            "frame_count": r["img_num"],
            "width": r["width"],
            "height": r["height"],
            "tube_start_frame": r["st_frame"],
            "tube_end_frame": r["st_frame"] + len(r["bbox"]),
            "tube_start_time": 0,
            "tube_end_time": 1,
            "video_path": name,
            "caption": r["caption"],
            "video_id": i,
            "trajectory": r["bbox"],
        }
        for i, (name, r) in enumerate(raw.items())
    ]
    a = load_annotations(raw_file(tmp_path))
    b = load_annotations(write_json(tmp_path / "test_proc.json", proc))
    assert detect_annotation_format(proc) == "hcstvg-proc"
    for x, y in zip(a, b):
        assert (x.query_id, x.span, x.st_frame, x.index, x.frame_count, x.fps) == (
            y.query_id,
            y.span,
            y.st_frame,
            y.index,
            y.frame_count,
            y.fps,
        )
        assert np.array_equal(x.boxes, y.boxes)


def _vidstg_fixture(tmp_path: Path):
    track0 = {
        f: [10.0 + f, 20.0, 110.0 + f, 220.0] for f in range(55, 151)
    }  # has a box on end_fid 150
    track1 = {f: [1.0, 2.0, 30.0, 40.0] for f in range(60, 150)}  # ends at end_fid - 1
    vidor = {"0000000001": vidor_file(300, {0: track0, 1: track1})}
    entries = [
        vidstg_entry(
            "0000000001",
            29.97,
            300,
            (0, 299),
            (60, 150),
            captions=[("an adult leans on a dog.", 0)],
            questions=[("who leans on the dog?", 0), ("what is leaned on?", 1)],
        ),
    ]
    boxes_dir = tmp_path / "annotation" / "validation" / "0001"
    boxes_dir.mkdir(parents=True)
    write_json(boxes_dir / "0000000001.json", vidor["0000000001"])
    return entries, vidor


def test_vidstg_official_with_vidor_boxes(tmp_path: Path) -> None:
    entries, _ = _vidstg_fixture(tmp_path)
    path = write_json(tmp_path / "test_annotations.json", entries)
    queries = load_annotations(path, "vidstg", boxes_dir=tmp_path / "annotation")
    # TubeDETR's order: questions first, then captions; query_id = TubeDETR video_id
    assert [(q.query_id, q.qtype, q.target_id) for q in queries] == [
        ("0", "interrogative", 0),
        ("1", "interrogative", 1),
        ("2", "declarative", 0),
    ]
    q = queries[0]
    assert (
        q.span == (60, 150)
        and q.segment == (0, 299)
        and q.fps == 29.97
        and q.video_id == "0000000001"
    )
    assert q.frames.tolist() == list(range(60, 150))  # end_fid is exclusive
    assert q.boxes[0].tolist() == [70.0, 20.0, 170.0, 220.0]
    assert q.end_box.tolist() == [160.0, 20.0, 260.0, 220.0]  # kept for STCAT
    assert queries[1].end_box is None


def test_vidstg_tubedetr_split_equals_official(tmp_path: Path) -> None:
    entries, vidor = _vidstg_fixture(tmp_path)
    official = load_annotations(
        write_json(tmp_path / "a.json", entries), boxes_dir=tmp_path / "annotation"
    )
    split = vidstg_tubedetr_from_official(entries, vidor)
    converted = load_annotations(write_json(tmp_path / "test.json", split))
    assert detect_annotation_format(split) == "vidstg-tubedetr"
    for x, y in zip(official, converted, strict=True):
        assert (x.query_id, x.qtype, x.span, x.segment, x.query) == (
            y.query_id,
            y.qtype,
            y.span,
            y.segment,
            y.query,
        )
        assert np.array_equal(x.frames, y.frames) and np.array_equal(x.boxes, y.boxes)
        assert (x.end_box is None) == (y.end_box is None)


def test_vidor_track_holes_are_not_gt_frames(tmp_path: Path) -> None:
    track = {f: [1.0, 2.0, 30.0, 40.0] for f in range(60, 150) if f != 100}
    boxes_dir = tmp_path / "vidor"
    boxes_dir.mkdir()
    write_json(boxes_dir / "v.json", vidor_file(200, {3: track}))
    entries = [vidstg_entry("v", 25, 200, (0, 199), (60, 150), captions=[("x", 3)], questions=[])]
    q = load_annotations(write_json(tmp_path / "a.json", entries), boxes_dir=boxes_dir)[0]
    assert 100 not in q.frames.tolist() and len(q.frames) == 89


# ------------------------------------------------------------------------------------ malformed
def _error(path, **kwargs) -> str:
    with pytest.raises(AnnotationError) as info:
        load_annotations(path, **kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    "override, field, words",
    [
        ({"st_frame": 0}, "st_frame", "must be >= 1"),
        ({"st_frame": "12"}, "st_frame", "expected an integer"),
        ({"bbox": [[1, 2, 3, 4], [1, 2, 3]]}, "bbox[1]", "expected [x, y, w, h]"),
        ({"bbox": [[1, 2, -3, 4]]}, "bbox[0]", "negative width"),
        ({"bbox": []}, "bbox", "is empty"),
        ({"img_num": None}, "img_num", "expected an integer"),
        ({"caption": None}, "caption", "expected a string"),
    ],
)
def test_malformed_hcstvg_raw(tmp_path: Path, override: dict, field: str, words: str) -> None:
    path = raw_file(tmp_path, **override)
    message = _error(path)
    assert message.startswith(str(path))
    assert "record '7_demoClipA.mp4'" in message
    assert f"field {field!r}" in message
    assert words in message


def test_missing_caption_names_both_spellings(tmp_path: Path) -> None:
    raw = {"v.mp4": hcstvg_raw_record(100, 1, BOXES)}
    del raw["v.mp4"]["caption"]
    message = _error(write_json(tmp_path / "t.json", raw))
    assert "field 'caption or English': missing" in message


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": [1, 2,')
    assert re.match(rf"{re.escape(str(bad))}: not valid JSON \(line 1", _error(bad))
    missing = tmp_path / "nope.json"
    assert _error(missing) == f"{missing}: file not found"


def test_unrecognised_format_and_dataset_mismatch(tmp_path: Path) -> None:
    assert "unrecognised annotation format" in _error(write_json(tmp_path / "x.json", {"a": 1}))
    assert "not vidstg" in _error(raw_file(tmp_path), dataset="vidstg")


def test_proc_length_mismatch(tmp_path: Path) -> None:
    proc = [
        {
            "original_video_id": "v",
            "frame_count": 100,
            "width": 1,
            "height": 1,
            "tube_start_frame": 5,
            "tube_end_frame": 9,
            "caption": "c",
            "video_id": 0,
            "trajectory": [[0, 0, 1, 1]],
        }
    ]
    message = _error(write_json(tmp_path / "p.json", proc))
    assert "record 'v', field 'tube_end_frame'" in message and "1 boxes" in message


def test_vidstg_official_errors(tmp_path: Path) -> None:
    entries, _ = _vidstg_fixture(tmp_path)
    path = write_json(tmp_path / "a.json", entries)
    assert "give the VidOR annotation directory" in _error(path)
    other = tmp_path / "empty"
    other.mkdir()
    message = _error(path, boxes_dir=other)
    assert (
        "record '0 (vid 0000000001)', field 'vid'" in message
        and "no VidOR box file 0000000001.json" in message
    )
    entries[0]["temporal_gt"]["end_fid"] = 60
    message = _error(write_json(tmp_path / "b.json", entries), boxes_dir=tmp_path / "annotation")
    assert "field 'temporal_gt.end_fid'" in message and "exclusive" in message
    entries[0]["temporal_gt"]["end_fid"] = 150
    entries[0]["captions"][0]["target_id"] = 7
    message = _error(write_json(tmp_path / "c.json", entries), boxes_dir=tmp_path / "annotation")
    assert "field 'captions[0].target_id'" in message and "target 7" in message


def test_vidor_file_errors_name_the_vidor_file(tmp_path: Path) -> None:
    entries, vidor = _vidstg_fixture(tmp_path)
    data = vidor["0000000001"]
    data["trajectories"][70][0]["bbox"]["xmax"] = "wide"
    vidor_path = tmp_path / "annotation" / "validation" / "0001" / "0000000001.json"
    write_json(vidor_path, data)
    message = _error(write_json(tmp_path / "a.json", entries), boxes_dir=tmp_path / "annotation")
    assert message.startswith(str(vidor_path))
    assert "field 'trajectories[70][0].bbox.xmax'" in message


def test_vidstg_tubedetr_errors(tmp_path: Path) -> None:
    entries, vidor = _vidstg_fixture(tmp_path)
    split = vidstg_tubedetr_from_official(entries, vidor)
    split["videos"][1]["qtype"] = "question"
    message = _error(write_json(tmp_path / "t.json", split))
    assert "record 1, field 'qtype'" in message
    split = vidstg_tubedetr_from_official(entries, vidor)
    split["trajectories"]["0000000001"]["0"]["77"]["bbox"] = [1, 2, 3]
    message = _error(write_json(tmp_path / "u.json", split))
    assert "field \"trajectories['0000000001']['0']['77'].bbox\"" in message
