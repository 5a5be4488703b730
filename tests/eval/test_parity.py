"""Our vectorised protocols agree with straightforward reference loops on random data (1e-9)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.eval.builders import (
    hcstvg_raw_record,
    random_walk_boxes,
    vidor_file,
    vidstg_entry,
    vidstg_tubedetr_from_official,
    write_json,
)
from tests.eval.reference import (
    stcat_evaluate,
    stcat_gt_hcstvg,
    stcat_gt_vidstg,
    stcat_linear_interp,
    summarize,
    tubedetr_evaluate,
    tubedetr_frame_ids,
    tubedetr_gt_hcstvg,
    tubedetr_gt_vidstg,
)

from tubescope import Tube
from tubescope.eval import evaluate

TOL = 1e-9


def _random_tube(rng: np.random.Generator, frame_count: int, around: tuple[int, int]) -> Tube:
    s0, e0 = around
    length = max(e0 - s0, 1)
    ps = int(np.clip(s0 + rng.integers(-length, length + 1), 0, frame_count - 1))
    if rng.random() < 0.05:  # far away
        ps = int(rng.integers(0, frame_count))
    pe = int(np.clip(ps + rng.integers(1, 2 * length + 2), ps + 1, frame_count))
    if rng.random() < 0.05:
        return Tube(ps, pe)  # no boxes at all
    count = int(rng.integers(1, max(2, (pe - ps) // 2)))
    frames = np.sort(rng.choice(np.arange(ps, pe), size=min(count, pe - ps), replace=False))
    boxes = random_walk_boxes(rng, len(frames))
    return Tube(ps, pe, frames=frames, boxes=boxes)


def _dense(tube: Tube) -> dict[int, list[list[float]]]:
    """STCAT's dense per-frame prediction from a tube: Tube.box_at on every frame of the span."""
    dense = tube.dense()  # the same values as box_at(f) for f in [start, end)
    return {int(f): [b] for f, b in zip(dense.frames.tolist(), dense.boxes.tolist())}


def _keyed(rng: np.random.Generator, frame_ids: list[int], frame_count: int, sted_float: bool):
    """A TubeDETR-style prediction: sted and boxes on some frames (sampled and others)."""
    ps = float(rng.integers(0, frame_count - 1))
    pe = min(ps + float(rng.integers(1, frame_count)), frame_count - 1.0)
    if sted_float:
        ps += float(rng.uniform(0, 1))
        pe += float(rng.uniform(0, 1))  # still inside the video
    keep = [f for f in frame_ids if rng.random() < 0.8]
    extra = rng.integers(0, frame_count, size=int(rng.integers(0, 5))).tolist()
    frames = sorted(set(keep) | set(extra))
    boxes = random_walk_boxes(rng, len(frames))
    return [ps, pe], dict(zip(frames, boxes.tolist()))


def _compare(report, reference: dict, key_of) -> None:
    worst = 0.0
    for r in report.per_query:
        ref = reference[key_of(r)]
        worst = max(worst, abs(r.tIoU - ref[0]), abs(r.vIoU - ref[1]), abs(r.gt_vIoU - ref[2]))
    assert worst <= TOL, worst


def _hcstvg_dataset(rng: np.random.Generator, n: int) -> dict:
    raw = {}
    for i in range(n):
        frame_count = int(rng.integers(100, 700))
        if rng.random() < 0.05:
            frame_count = int(rng.choice([100, 104, 482, 601, 1299]))
        length = int(rng.integers(1, frame_count // 2))
        st_frame = int(rng.integers(1, frame_count - length + 2))  # 1-based; may end at frame_count
        raw[f"{i}_vid{i:05d}.{'mp4' if i % 3 else 'mkv'}"] = hcstvg_raw_record(
            frame_count, st_frame, random_walk_boxes(rng, length, integer=bool(i % 2))
        )
    return raw


@pytest.mark.parametrize("protocol", ["tubedetr", "stcat"])
def test_hcstvg_tubes_match_reference(tmp_path: Path, protocol: str) -> None:
    rng = np.random.default_rng(1 if protocol == "tubedetr" else 2)
    raw = _hcstvg_dataset(rng, 1200)
    ann = write_json(tmp_path / "test.json", raw)
    tubes: dict[str, Tube] = {}
    lines = []
    for name, rec in raw.items():
        if rng.random() < 0.1:
            continue  # missing prediction
        tube = _random_tube(
            rng, rec["img_num"], (rec["st_frame"] - 1, rec["st_frame"] - 1 + len(rec["bbox"]))
        )
        tubes[name] = tube
        lines.append(json.dumps({"video_id": name, "tube": tube.to_dict()}))
    pred = tmp_path / "pred.jsonl"
    pred.write_text("\n".join(lines) + "\n")

    report = evaluate(ann, pred, dataset="hcstvg-v1", protocol=protocol)
    names = {name.rsplit(".", 1)[0]: name for name in raw}
    if protocol == "tubedetr":
        gt = tubedetr_gt_hcstvg(raw)
        frame_preds, video_preds = {}, {}
        for name, tube in tubes.items():
            video_preds[name] = [
                tube.start_frame,
                tube.end_frame,
            ]  # our [start, end) = TubeDETR sted
            for f in gt[name]["frame_ids"]:
                box = tube.box_at(f)
                if box is not None:
                    frame_preds[(name, f)] = [box.tolist()]
        reference = tubedetr_evaluate(gt, frame_preds, video_preds)
    else:
        gt = stcat_gt_hcstvg(raw)
        bbox_preds = {name: _dense(t) for name, t in tubes.items()}
        temp_preds = {name: [t.start_frame, t.end_frame] for name, t in tubes.items()}
        reference = stcat_evaluate(gt, bbox_preds, temp_preds)
    _compare(report, reference, lambda r: names[r.query_id])
    assert report.n_missing == len(raw) - len(tubes) > 0
    expected = summarize(reference)
    got = report.to_dict()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=TOL), key


@pytest.mark.parametrize("protocol", ["tubedetr", "stcat"])
def test_hcstvg_keyed_tubedetr_file_matches_reference(tmp_path: Path, protocol: str) -> None:
    rng = np.random.default_rng(3 if protocol == "tubedetr" else 4)
    raw = _hcstvg_dataset(rng, 600)
    ann = write_json(
        tmp_path / "test_proc.json",
        [
            {
                "original_video_id": name[:-4],
                "frame_count": rec["img_num"],
                "width": rec["width"],
                "height": rec["height"],
                "tube_start_frame": rec["st_frame"],
                "tube_end_frame": rec["st_frame"] + len(rec["bbox"]),
                "caption": rec["caption"],
                "video_id": i,
                "trajectory": rec["bbox"],
            }
            for i, (name, rec) in enumerate(raw.items())
        ],
    )
    video_preds, frame_preds, keyed = {}, {}, {}
    for i, (name, rec) in enumerate(raw.items()):
        if rng.random() < 0.1:
            continue
        ids = tubedetr_frame_ids(0, rec["img_num"] - 1, rec["img_num"] / 20)
        sted, boxes = _keyed(rng, ids, rec["img_num"], sted_float=protocol == "tubedetr")
        video_preds[name] = sted
        keyed[name] = boxes
        for f, box in boxes.items():
            frame_preds[(name, f)] = [box]
    payload = {
        "videos": {str(list(raw).index(n)): {"sted": s} for n, s in video_preds.items()},
        "frames": {f"{list(raw).index(n)}_{f}": {"boxes": b} for (n, f), b in frame_preds.items()},
    }
    pred = write_json(tmp_path / "pred_tubedetr.json", payload)
    report = evaluate(ann, pred, dataset="hcstvg-v2", protocol=protocol)
    if protocol == "tubedetr":
        reference = tubedetr_evaluate(tubedetr_gt_hcstvg(raw), frame_preds, video_preds)
    else:
        bbox_preds = {
            n: stcat_linear_interp({f: [b] for f, b in boxes.items()}) for n, boxes in keyed.items()
        }
        reference = stcat_evaluate(
            stcat_gt_hcstvg(raw),
            bbox_preds,
            {n: [int(s[0]), int(s[1])] for n, s in video_preds.items()},
        )
    names = {name[:-4]: name for name in raw}
    _compare(report, reference, lambda r: names[r.query_id])


def _vidstg_dataset(rng: np.random.Generator, n_entries: int):
    entries, vidor = [], {}
    for i in range(n_entries):
        vid = f"{1000000 + i}"
        fps = float(rng.choice([10, 15, 23.976, 24, 25, 29.97]))
        frame_count = (
            int(rng.integers(60, 900)) if rng.random() < 0.9 else int(rng.integers(1300, 2600))
        )
        seg_b = int(rng.integers(0, frame_count // 4))
        seg_e = (
            frame_count - 1 if rng.random() < 0.7 else int(rng.integers(seg_b + 10, frame_count))
        )
        gt_b = int(rng.integers(seg_b, seg_e))
        gt_e = int(
            rng.integers(gt_b + 1, seg_e + 2)
        )  # exclusive; may equal seg_e + 1 (== frame_count)
        if rng.random() < 0.05:  # GT running past the used segment (STCAT drops these)
            gt_e = min(frame_count, seg_e + int(rng.integers(1, 30)))
        tracks = {}
        for tid in (0, 1):
            lo = max(0, gt_b - int(rng.integers(0, 20)))
            hi = min(frame_count, gt_e + (int(rng.integers(0, 3)) if rng.random() < 0.5 else 0))
            boxes = random_walk_boxes(rng, hi - lo, 640, 480, integer=True)
            tracks[tid] = {f: boxes[f - lo].tolist() for f in range(lo, hi)}
        vidor[vid] = vidor_file(frame_count, tracks)
        questions = [
            (f"who does {k}?", int(rng.integers(0, 2))) for k in range(int(rng.integers(0, 3)))
        ]
        captions = [
            (f"someone does {k}.", int(rng.integers(0, 2))) for k in range(int(rng.integers(1, 3)))
        ]
        entries.append(
            vidstg_entry(vid, fps, frame_count, (seg_b, seg_e), (gt_b, gt_e), captions, questions)
        )
    return entries, vidor


@pytest.mark.parametrize("protocol", ["tubedetr", "stcat"])
def test_vidstg_matches_reference(tmp_path: Path, protocol: str) -> None:
    rng = np.random.default_rng(5 if protocol == "tubedetr" else 6)
    entries, vidor = _vidstg_dataset(rng, 300)
    ann = write_json(tmp_path / "test_annotations.json", entries)
    boxes_dir = tmp_path / "vidor" / "validation"
    for k, (vid, data) in enumerate(vidor.items()):
        (boxes_dir / f"{k % 7:04d}").mkdir(parents=True, exist_ok=True)
        write_json(boxes_dir / f"{k % 7:04d}" / f"{vid}.json", data)
    split = vidstg_tubedetr_from_official(entries, vidor)
    split_path = write_json(tmp_path / "test.json", split)

    lines, tubes = [], {}
    for video in split["videos"]:
        if rng.random() < 0.1:
            continue
        tube = _random_tube(
            rng, video["frame_count"], (video["tube_start_frame"], video["tube_end_frame"])
        )
        tubes[video["video_id"]] = tube
        lines.append(
            json.dumps(
                {
                    "query_id": video["video_id"],
                    "video_id": video["original_video_id"],
                    "tube": tube.to_dict(),
                }
            )
        )
    pred = tmp_path / "pred.jsonl"
    pred.write_text("\n".join(lines) + "\n")

    report = evaluate(ann, pred, dataset="vidstg", protocol=protocol, boxes_dir=tmp_path / "vidor")
    same = evaluate(split_path, pred, dataset="vidstg", protocol=protocol)
    assert report.to_dict() == same.to_dict()

    if protocol == "tubedetr":
        gt = tubedetr_gt_vidstg(split)
        frame_preds, video_preds = {}, {}
        for vid, tube in tubes.items():
            video_preds[vid] = [tube.start_frame, tube.end_frame]
            for f in gt[vid]["frame_ids"]:
                box = tube.box_at(f)
                if box is not None:
                    frame_preds[(vid, f)] = [box.tolist()]
        reference = tubedetr_evaluate(gt, frame_preds, video_preds)
    else:
        gt = stcat_gt_vidstg(entries, vidor)
        bbox_preds = {vid: _dense(t) for vid, t in tubes.items()}
        reference = stcat_evaluate(
            gt, bbox_preds, {vid: [t.start_frame, t.end_frame] for vid, t in tubes.items()}
        )
    _compare(report, reference, lambda r: int(r.query_id))
    got = report.to_dict()
    for qtype in ("declarative", "interrogative"):
        keys = [k for k, g in gt.items() if g["qtype"] == qtype]
        expected = summarize(reference, keys)
        assert got[qtype]["n_queries"] == len(keys)
        for key, value in expected.items():
            assert got[qtype][key] == pytest.approx(value, abs=TOL), (qtype, key)
