"""No silent acceptance: every case that used to be collapsed, clipped or scored is now an error
naming the file, the record and the field (issue 18); aggregates are bit-identical to the
peers' sequential sums; STCAT's end-of-video drop is counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tests.eval.builders import (
    hcstvg_raw_record,
    vidor_file,
    vidstg_entry,
    vidstg_tubedetr_from_official,
    write_json,
)
from tests.eval.reference import stcat_evaluate, stcat_gt_hcstvg, tubedetr_evaluate
from tests.eval.reference import tubedetr_gt_hcstvg

from tubescope import GroundingResult, Tube
from tubescope.cli.main import cli
from tubescope.errors import AnnotationError, PredictionError
from tubescope.eval import GTQuery, evaluate, load_annotations

BOXES = np.array([[10, 20, 110, 220], [12, 21, 112, 220], [14, 21, 115, 220]], dtype=float)
BOX = [10.0, 20.0, 110.0, 220.0]


def annotation_error(path, **kwargs) -> str:
    with pytest.raises(AnnotationError) as info:
        load_annotations(path, **kwargs)
    return str(info.value)


def prediction_error(*args, **kwargs) -> str:
    with pytest.raises(PredictionError) as info:
        evaluate(*args, **kwargs)
    return str(info.value)


def clean_raw(v2: bool = False) -> dict:
    return {
        "1_a.mp4": hcstvg_raw_record(40, 5, BOXES, v2=v2),
        "2_b.mp4": hcstvg_raw_record(500, 121, BOXES, v2=v2),
    }


# ------------------------------------------------------------------- repeated annotation keys
def test_a_video_listed_twice_is_an_error(tmp_path: Path) -> None:
    second = json.dumps(hcstvg_raw_record(600, 7, BOXES[:1]))
    text = json.dumps(clean_raw())[:-1] + f', "1_a.mp4": {second}}}'
    path = tmp_path / "test.json"
    path.write_text(text)  # json.load would keep the second "1_a.mp4" only
    message = annotation_error(path)
    assert message.startswith(f"{path}, record '1_a.mp4': the file lists this video more than once")
    assert "\n" not in message


def test_a_field_repeated_inside_a_record_is_an_error(tmp_path: Path) -> None:
    text = json.dumps(clean_raw()).replace('"st_frame": 121', '"st_frame": 121, "st_frame": 3')
    path = tmp_path / "test.json"
    path.write_text(text)
    message = annotation_error(path)
    assert message.startswith(f"{path}, record '2_b.mp4', field 'st_frame': repeated key")


def test_repeated_keys_in_tubedetr_vidstg_trajectories(tmp_path: Path) -> None:
    entries, vidor = _vidstg(tmp_path, frame_count=300, segment=(0, 299), gt=(60, 150))
    split = vidstg_tubedetr_from_official(entries, vidor)
    text = json.dumps(split).replace('"60": {', '"60": {"bbox": [0, 0, 1, 1]}, "60": {', 1)
    path = tmp_path / "test.json"
    path.write_text(text)
    message = annotation_error(path)
    where = "field \"trajectories['0000000001']['0']['60']\""
    assert "record '0000000001'" in message and where in message


# ---------------------------------------------------------- a missing field, first record too
@pytest.mark.parametrize("field", ["st_frame", "bbox", "img_num"])
def test_a_field_missing_in_the_first_record_is_named(tmp_path: Path, field: str) -> None:
    raw = clean_raw()
    del raw["1_a.mp4"][field]
    message = annotation_error(write_json(tmp_path / "test.json", raw))
    assert "unrecognised" not in message
    assert f"record '1_a.mp4', field '{field}': missing" in message


def test_a_field_missing_in_the_only_record_is_named(tmp_path: Path) -> None:
    raw = {"1_a.mp4": hcstvg_raw_record(40, 5, BOXES)}
    del raw["1_a.mp4"]["st_frame"]
    assert "field 'st_frame': missing" in annotation_error(write_json(tmp_path / "t.json", raw))


def test_a_field_missing_in_the_first_vidstg_entry_is_named(tmp_path: Path) -> None:
    entries, _ = _vidstg(tmp_path, frame_count=300, segment=(0, 299), gt=(60, 150))
    entries.append(dict(entries[0]))
    del entries[0]["temporal_gt"]
    message = annotation_error(
        write_json(tmp_path / "a.json", entries), boxes_dir=tmp_path / "vidor"
    )
    assert "record '0 (vid 0000000001)', field 'temporal_gt': missing" in message


# ------------------------------------------------------------------ spans beyond the video
def test_an_hcstvg_tube_running_past_the_video_is_an_error(tmp_path: Path) -> None:
    raw = clean_raw()
    raw["1_a.mp4"]["st_frame"] = 39  # 3 boxes from frame 39 (1-based) end on frame 41 > 40
    message = annotation_error(write_json(tmp_path / "test.json", raw))
    assert "record '1_a.mp4', field 'bbox'" in message and "runs past the video" in message


def test_a_proc_tube_running_past_the_video_is_an_error(tmp_path: Path) -> None:
    proc = [{"original_video_id": "a", "frame_count": 40, "width": 64, "height": 64,
             "tube_start_frame": 40, "tube_end_frame": 43, "caption": "c", "video_id": 0,
             "trajectory": [[0, 0, 1, 1]] * 3}]  # fmt: skip
    message = annotation_error(write_json(tmp_path / "test_proc.json", proc))
    assert "record 'a', field 'tube_end_frame'" in message and "runs past" in message


def test_a_vidstg_gt_past_the_video_is_an_error(tmp_path: Path) -> None:
    entries, vidor = _vidstg(tmp_path, frame_count=300, segment=(0, 299), gt=(60, 150))
    entries[0]["temporal_gt"]["end_fid"] = 301
    message = annotation_error(
        write_json(tmp_path / "a.json", entries), boxes_dir=tmp_path / "vidor"
    )
    assert "field 'temporal_gt.end_fid'" in message
    assert "runs past the video's 300 frames" in message
    split = vidstg_tubedetr_from_official(entries, vidor)
    message = annotation_error(write_json(tmp_path / "test.json", split))
    assert "record 0, field 'tube_end_frame'" in message


def test_a_gtquery_past_its_video_is_refused() -> None:
    with pytest.raises(AnnotationError, match="field 'span'.*runs past the video's 40 frames"):
        GTQuery("v", "v", "x", None, "hcstvg", 40, 2.0, 64, 64, 30, 41)


def _gt40() -> list[GTQuery]:
    return [GTQuery("v", "v", "a man", None, "hcstvg", 40, 2.0, 640, 360, 10, 20,
                    frames=range(10, 20), boxes=[BOX] * 10, st_frame=11)]  # fmt: skip


def test_a_prediction_past_the_video_is_an_error_in_every_format(tmp_path: Path) -> None:
    record = hcstvg_raw_record(40, 11, np.array([BOX] * 10))
    gt = write_json(tmp_path / "test.json", {"v.mp4": record})
    far = Tube(380, 401, frames=[380], boxes=[BOX])  # frame 400 of a 40-frame video
    line = {"video_id": "v", "tube": far.to_dict()}
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps(line) + "\n")
    message = prediction_error(gt, jsonl)
    assert message.startswith(f"{jsonl}, line 1, field 'tube.end_frame': the predicted span")
    assert "runs past the end of video 'v', which has 40 frames" in message
    result = GroundingResult("a man", far, video="v.mp4")  # the precise reader: same message
    full = tmp_path / "r.jsonl"
    full.write_text(result.to_json() + "\n")
    assert prediction_error(gt, full).startswith(f"{full}, line 1, field 'tube.end_frame'")
    official = write_json(tmp_path / "o.json", {"v.mp4": {"st_frame": 381, "ed_frame": 401}})
    assert "field \"['v.mp4'].ed_frame\"" in prediction_error(gt, official)
    tubedetr = write_json(tmp_path / "t.json", {"videos": {"v": {"sted": [380, 400.5]}}})
    assert "field \"videos['v'].sted\"" in prediction_error(gt, tubedetr)
    assert "field 'end_frame'" in prediction_error(_gt40(), {"v": far})


def test_a_keyed_box_past_the_video_is_an_error(tmp_path: Path) -> None:
    payload = {"videos": {"v": {"sted": [10, 20]}}, "frames": {"v_400": {"boxes": [BOX]}}}
    path = write_json(tmp_path / "t.json", payload)
    message = prediction_error(_gt40(), path)
    assert "field 'frames'" in message and "a box on frame 400 (0-based) lies past" in message


# ------------------------------------------------------------ --dataset must match the file
def test_a_v1_file_is_not_accepted_as_v2_and_the_converse(tmp_path: Path) -> None:
    v1 = write_json(tmp_path / "test.json", clean_raw())
    message = annotation_error(v1, dataset="hcstvg-v2")
    assert message.startswith(f"{v1}, record '1_a.mp4', field 'caption': this is an HC-STVG v1")
    assert "not hcstvg-v2" in message
    v2 = write_json(tmp_path / "val_v2.json", clean_raw(v2=True))
    message = annotation_error(v2, dataset="hcstvg-v1")
    assert "field 'English': this is an HC-STVG v2 file" in message and "not hcstvg-v1" in message
    assert load_annotations(v1, "hcstvg-v1") and load_annotations(v2, "hcstvg-v2")


def test_the_cli_says_which_version_it_detected(tmp_path: Path) -> None:
    v1 = write_json(tmp_path / "test.json", clean_raw())
    pred = tmp_path / "p.jsonl"
    pred.write_text("")
    result = CliRunner().invoke(
        cli,
        ["eval", "--dataset", "hcstvg-v2", "--annotations", str(v1), "--predictions", str(pred)],
    )
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "this is an HC-STVG v1 file" in result.output


def test_without_a_dataset_the_report_names_the_detected_one(tmp_path: Path) -> None:
    v2 = write_json(tmp_path / "val_v2.json", clean_raw(v2=True))
    assert evaluate(v2, {}).dataset == "hcstvg-v2"


# ------------------------------------------------ aggregates: the peers' sequential sums, exactly
def _sequential(values) -> float:
    total = 0
    for value in values:
        total += value
    return total / len(values)


def test_aggregates_equal_the_peers_sequential_sums_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(18)
    raw, lines = {}, []
    for i in range(3000):
        frame_count = int(rng.integers(100, 700))
        n = int(rng.integers(5, frame_count // 2))
        st = int(rng.integers(1, frame_count - n + 2))
        boxes = np.column_stack([rng.uniform(0, 300, (n, 2)), rng.uniform(320, 600, (n, 2))])
        raw[f"{i}_v.mp4"] = hcstvg_raw_record(frame_count, st, boxes)
        ps = int(np.clip(st - 1 + rng.integers(-n, n), 0, frame_count - 1))
        pe = int(np.clip(ps + rng.integers(1, 2 * n), ps + 1, frame_count))
        tube = Tube(ps, pe, frames=[ps], boxes=[boxes[0] + rng.normal(0, 20, 4).clip(-9, 9)])
        lines.append(json.dumps({"video_id": f"{i}_v", "tube": tube.to_dict()}))
    ann = write_json(tmp_path / "test.json", raw)
    pred = tmp_path / "p.jsonl"
    pred.write_text("\n".join(lines) + "\n")
    tubes = {f"{i}_v.mp4": Tube.from_dict(json.loads(l)["tube"]) for i, l in enumerate(lines)}
    for protocol in ("tubedetr", "stcat"):
        if protocol == "tubedetr":
            gt = tubedetr_gt_hcstvg(raw)
            frame_preds = {(name, f): [tubes[name].box_at(f).tolist()]
                           for name in raw for f in gt[name]["frame_ids"]
                           if tubes[name].box_at(f) is not None}  # fmt: skip
            spans = {name: [t.start_frame, t.end_frame] for name, t in tubes.items()}
            reference = tubedetr_evaluate(gt, frame_preds, spans)
        else:
            dense = {name: {int(f): [b] for f, b in zip(t.dense().frames.tolist(),
                                                        t.dense().boxes.tolist())}
                     for name, t in tubes.items()}  # fmt: skip
            spans = {name: [t.start_frame, t.end_frame] for name, t in tubes.items()}
            reference = stcat_evaluate(stcat_gt_hcstvg(raw), dense, spans)
        per_video = [reference[name] for name in raw]  # the peers iterate in this order
        expected = {
            "m_tIoU": _sequential([v[0] for v in per_video]),
            "m_vIoU": _sequential([v[1] for v in per_video]),
            "vIoU@0.3": _sequential([int(v[1] > 0.3) for v in per_video]),
            "vIoU@0.5": _sequential([int(v[1] > 0.5) for v in per_video]),
            "gt_vIoU": _sequential([v[2] for v in per_video]),
        }
        got = evaluate(ann, pred, dataset="hcstvg-v1", protocol=protocol).to_dict()
        assert {k: got[k] for k in expected} == expected  # exact, no tolerance
        # and this data is one where numpy's pairwise mean would not be exact
        assert float(np.mean([v[0] for v in per_video])) != expected["m_tIoU"] or float(
            np.mean([v[1] for v in per_video])
        ) != expected["m_vIoU"]


# ------------------------------------------------------ STCAT's end-of-video drop, counted
def _vidstg(tmp_path: Path, frame_count: int, segment, gt, boxed=None):
    boxed = boxed or range(gt[0] - 5, min(gt[1] + 1, frame_count))
    track = {f: [10.0, 20.0, 110.0, 220.0] for f in boxed}
    vidor = {"0000000001": vidor_file(frame_count, {0: track})}
    entries = [
        vidstg_entry(
            "0000000001", 30.0, frame_count, segment, gt,
            captions=[("an adult ends the video.", 0)], questions=[("who ends it?", 0)],
        )
    ]  # fmt: skip
    (tmp_path / "vidor").mkdir(exist_ok=True)
    write_json(tmp_path / "vidor" / "0000000001.json", vidor["0000000001"])
    return entries, vidor


def test_stcat_end_of_video_drop_is_scored_and_counted(tmp_path: Path) -> None:
    # the minimal case: frame_count 600, used_segment (0, 600), temporal_gt (500, 600)
    entries, _ = _vidstg(tmp_path, 600, (0, 600), (500, 600), boxed=range(400, 600))
    ann = write_json(tmp_path / "test_annotations.json", entries)
    tube = Tube(500, 600, frames=[500], boxes=[BOX])
    preds = {"0": tube, "1": tube}
    report = evaluate(ann, preds, dataset="vidstg", protocol="stcat", boxes_dir=tmp_path / "vidor")
    d = report.to_dict()
    assert d["n_stcat_would_drop"] == 2  # both sentences of the pair
    assert d["declarative"]["n_stcat_would_drop"] == 1
    assert d["declarative"]["n_queries"] == 1 and d["declarative"]["m_tIoU"] > 0.9  # scored
    assert report.stcat_drops[0] == (
        "0",
        "temporal_gt and used_segment both end at frame_count (STCAT's length check fails)",
    )
    # one frame shorter segment (the normal case in the real data): STCAT keeps it
    entries, _ = _vidstg(tmp_path, 600, (0, 599), (500, 600), boxed=range(400, 600))
    ann = write_json(tmp_path / "b.json", entries)
    again = evaluate(ann, preds, dataset="vidstg", protocol="stcat", boxes_dir=tmp_path / "vidor")
    assert again.to_dict()["n_stcat_would_drop"] == 0
    # the tubedetr protocol does not report STCAT's drops
    assert "n_stcat_would_drop" not in evaluate(
        ann, preds, dataset="vidstg", boxes_dir=tmp_path / "vidor"
    ).to_dict()


def test_stcat_drops_gt_past_or_outside_the_segment(tmp_path: Path) -> None:
    entries, _ = _vidstg(tmp_path, 600, (0, 300), (250, 350), boxed=range(200, 400))
    ann = write_json(tmp_path / "a.json", entries)
    report = evaluate(ann, {}, protocol="stcat", boxes_dir=tmp_path / "vidor")
    assert {reason for _, reason in report.stcat_drops} == {"temporal_gt runs past used_segment"}
    entries, _ = _vidstg(tmp_path, 600, (0, 100), (250, 350), boxed=range(200, 400))
    ann = write_json(tmp_path / "b.json", entries)
    report = evaluate(ann, {}, protocol="stcat", boxes_dir=tmp_path / "vidor")
    assert report.n_stcat_would_drop == 2
    assert report.stcat_drops[0][1] == "temporal_gt lies outside used_segment"
