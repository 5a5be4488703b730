"""Benchmark: scoring 10,000 HC-STVG queries end to end, tubescope vs TubeDETR's and STCAT's own
evaluation pipelines, side by side in one run.

Each pipeline runs in a fresh Python process and is timed from process start to printed
numbers: start-up, reading its own annotation and prediction files, building its ground truth,
scoring, and summarising.

* **tubescope**: the real command, ``tubescope eval --dataset hcstvg-v1 --annotations
  test.json --predictions pred.jsonl --protocol P --json-out ...`` (the official raw json and
  the JSONL that ``tubescope run`` writes: one dense tube per query). With two cores it parses
  the predictions in a forked process while it reads the annotations
  (``tubescope.eval.forked``); it is also timed pinned to one core, where it does not.
* **TubeDETR** (``datasets/hcstvg_eval.py``), written here the way it is: ``json.load`` of its
  ``test_proc.json``, the per-frame sampling and GT loops of ``HCSTVGGiouEvaluator.__init__``,
  ``json.load`` of its two prediction dicts (``{"vid_fid": {"boxes"}}`` for every sampled frame,
  ``{vid: {"sted"}}``), the per-frame ``np_box_iou(np.array(pred), np.array(gt))[0][0]`` loop
  of ``evaluate`` and the summing loop of ``summarize``.
* **STCAT** (``datasets/hcstvg.py`` + ``datasets/evaluation/hcstvg_eval.py``): ``json.load`` of
  the raw json, ``preprocess`` and the ground-truth half of ``load_data`` (one ``np.array`` per
  box, the dict of frame boxes), the pickled GT cache written and read back (its
  ``torch.save``/``torch.load``), ``json.load`` of its dense per-frame predictions
  (``{item: {fid: [[box]]}}``), then ``evaluate`` and ``summarize`` per frame.

Both peers' evaluator modules import torch when they are imported (TubeDETR's ``util/dist.py``
and ``util/box_ops.py``, STCAT's ``hcstvg_eval.py``), so their processes import it too (when it
is installed), and the bench reports their times with and without that import. They are still
kinder to their authors than the real thing: no torchvision (also imported there), and no
STCAT model-input cache (heatmaps per frame).
Every pipeline must print the same numbers: the bench checks m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5
and gt_vIoU for exact equality (``==``), tubescope's ``tubedetr`` protocol against TubeDETR and
its ``stcat`` protocol against STCAT. It prints a table of wall and CPU times with ratios and
writes ``bench/results/eval.json``.

    .venv/bin/python bench/eval.py            # 10,000 queries (~30 MB GT, ~80 MB predictions)
    .venv/bin/python bench/eval.py --quick    # 1,000 queries
    .venv/bin/python bench/eval.py --parse    # also: json vs orjson vs msgspec on those files
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
METRICS = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5", "gt_vIoU")
CAPTIONS = (
    "the man in the red jacket turns and walks to the door",
    "the woman with long hair picks up the cup and sits down",
    "the old man in black stands up and leaves the room",
)


# ------------------------------------------------------------------------------------ the data
def write_files(n: int, folder: Path, seed: int = 0) -> dict[str, Path]:
    """HC-STVG v1-like ground truth and one dense predicted tube per query, in every format."""
    from tubescope import Tube
    from tubescope.eval import hcstvg_sampled_frames

    rng = np.random.default_rng(seed)
    raw, proc, lines = {}, [], []
    td_videos, td_frames, st_videos, st_frames = {}, {}, {}, {}
    for i in range(n):
        frame_count = int(rng.integers(450, 751))
        length = int(rng.integers(20, 221))
        st_frame = int(rng.integers(1, frame_count - length + 2))  # 1-based, ends in the video
        walk = np.cumsum(rng.normal(0, 1.5, (length, 4)), axis=0)
        w = np.clip(rng.uniform(40, 200) + walk[:, 2], 8, 300).round()
        h = np.clip(rng.uniform(80, 250) + walk[:, 3], 8, 340).round()
        x = np.clip(rng.uniform(0, 400) + walk[:, 0], 0, 640 - w).round()
        y = np.clip(rng.uniform(0, 100) + walk[:, 1], 0, 360 - h).round()
        xywh = np.column_stack([x, y, w, h]).astype(int)  # integers inside the image, like HC-STVG
        name = f"{i}_clip{i:05d}"
        caption = CAPTIONS[i % len(CAPTIONS)]
        raw[f"{name}.mp4"] = {
            "img_num": frame_count, "width": 640, "height": 360, "st_frame": st_frame,
            "st_time": st_frame / 25, "ed_time": (st_frame + length) / 25,
            "bbox": xywh.tolist(), "caption": caption,
        }  # fmt: skip
        proc.append(
            {
                "original_video_id": name, "frame_count": frame_count, "width": 640,
                "height": 360, "tube_start_frame": st_frame, "tube_end_frame": st_frame + length,
                "tube_start_time": 0, "tube_end_time": 1, "video_path": f"{name}.mp4",
                "caption": caption, "video_id": i, "trajectory": xywh.tolist(),
            }
        )  # fmt: skip
        # a dense predicted tube near the GT, on every frame of its span
        gt_start = st_frame - 1
        shift = int(rng.integers(-length // 2, length // 2 + 1))
        ps = int(np.clip(gt_start + shift, 0, frame_count - 2))
        pe = int(np.clip(ps + length * rng.uniform(0.5, 1.2), ps + 1, frame_count))
        frames = np.arange(ps, pe)
        xyxy = xywh[np.clip(frames - gt_start, 0, length - 1)].astype(float)
        xyxy[:, 2:] += xyxy[:, :2]
        noisy = xyxy + rng.normal(0, 6, xyxy.shape)
        boxes = np.column_stack(
            [np.minimum(noisy[:, 0], noisy[:, 2]), np.minimum(noisy[:, 1], noisy[:, 3]),
             np.maximum(noisy[:, 0], noisy[:, 2]), np.maximum(noisy[:, 1], noisy[:, 3])]
        )  # fmt: skip
        tube = Tube(ps, pe, frames=frames, boxes=boxes, fps=frame_count / 20, score=0.5)
        lines.append(json.dumps({"video_id": name, "tube": tube.to_dict()}))
        # the same tube as each peer's model would hand it over: TubeDETR a box on every
        # sampled frame, STCAT a box on every GT frame (zero boxes where the tube has none)
        td_videos[str(i)] = {"sted": [ps, pe]}
        for f in hcstvg_sampled_frames(frame_count).tolist():
            td_frames[f"{i}_{f}"] = {"boxes": [_box_at(tube, f)]}
        st_videos[str(i)] = {"sted": [ps, pe]}
        st_frames[str(i)] = {
            str(f): [_box_at(tube, f)] for f in range(gt_start, gt_start + length)
        }
    paths = {
        "annotations": folder / "test.json",
        "proc": folder / "test_proc.json",
        "predictions": folder / "pred.jsonl",
        "tubedetr": folder / "pred_tubedetr.json",
        "stcat": folder / "pred_stcat.json",
    }
    paths["annotations"].write_text(json.dumps(raw))
    paths["proc"].write_text(json.dumps(proc))
    paths["predictions"].write_text("\n".join(lines) + "\n")
    paths["tubedetr"].write_text(json.dumps({"videos": td_videos, "frames": td_frames}))
    paths["stcat"].write_text(json.dumps({"videos": st_videos, "frames": st_frames}))
    return paths


def _box_at(tube, frame: int) -> list[float]:
    box = tube.box_at(frame)
    return [0.0, 0.0, 0.0, 0.0] if box is None else box.tolist()


# ------------------------------------------------------------- the peers, written as they are
def _np_box_iou(boxes1, boxes2):
    """TubeDETR ``util/box_ops.py`` / STCAT ``utils/box_utils.py``: torchvision's, in numpy."""
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    lt = np.maximum(boxes1[:, None, :2], boxes2[:, :2])
    rb = np.minimum(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clip(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return inter / union


def _summarize(results, thresholds=(0.3, 0.5)):
    """The peers' ``summarize``: sum every per-video value in order, divide by the count."""
    metrics = {"gt_viou": 0, "tiou": 0, "viou": 0}
    for thresh in thresholds:
        metrics[f"viou@{thresh}"] = 0
    counter = 0
    for x in results.values():
        metrics["tiou"] += x["tiou"]
        metrics["viou"] += x["viou"]
        metrics["gt_viou"] += x["gt_viou"]
        for thresh in thresholds:
            metrics[f"viou@{thresh}"] += x[f"viou@{thresh}"]
        counter += 1
    for key in metrics:
        metrics[key] = metrics[key] / counter
    return {
        "m_tIoU": float(metrics["tiou"]),
        "m_vIoU": float(metrics["viou"]),
        "vIoU@0.3": float(metrics["viou@0.3"]),
        "vIoU@0.5": float(metrics["viou@0.5"]),
        "gt_vIoU": float(metrics["gt_viou"]),
    }


def _tiou(gt_sted, pred_sted):
    max_start, min_end = max(gt_sted[0], pred_sted[0]), min(gt_sted[1], pred_sted[1])
    if min_end <= max_start:
        return 0
    intersection = min_end - max_start
    return intersection / ((gt_sted[1] - gt_sted[0]) + (pred_sted[1] - pred_sted[0]) - intersection)


def _recalls(viou, thresholds=(0.3, 0.5)):
    return {f"viou@{thresh}": int(viou > thresh) for thresh in thresholds}


def run_tubedetr(folder: Path) -> dict[str, float]:
    """TubeDETR's ``HCSTVGEvaluator`` on ``test_proc.json`` and its prediction dicts."""
    fps, video_max_len = 5, 200
    anns = json.load(open(folder / "test_proc.json"))
    vid2imgids, vid2steds, img2box = {}, {}, {}
    for video in anns:
        video_num_images = video["frame_count"]
        video_id = video["video_id"]
        sampling_rate = fps / (video_num_images / 20)
        assert sampling_rate <= 1
        start_frame, end_frame = 0, video_num_images - 1
        frame_ids = [start_frame]
        for frame_id in range(start_frame, end_frame):
            if int(frame_ids[-1] * sampling_rate) < int(frame_id * sampling_rate):
                frame_ids.append(frame_id)
        if len(frame_ids) > video_max_len:
            frame_ids = [
                frame_ids[(j * len(frame_ids)) // video_max_len] for j in range(video_max_len)
            ]
        inter_frames = []
        vid2steds[video_id] = [video["tube_start_frame"], video["tube_end_frame"]]
        for frame_id in frame_ids:
            if video["tube_start_frame"] <= frame_id < video["tube_end_frame"]:
                x1, y1, w, h = video["trajectory"][frame_id - video["tube_start_frame"]]
                img2box[f"{video_id}_{frame_id}"] = [[x1, y1, x1 + w, y1 + h]]
                inter_frames.append(f"{video_id}_{frame_id}")
        vid2imgids[video_id] = [frame_ids, inter_frames]
    data = json.load(open(folder / "pred_tubedetr.json"))
    predictions = data["frames"]
    video_predictions = {int(k): v for k, v in data["videos"].items()}
    vid_metrics = {}
    for video_id, video_pred in video_predictions.items():
        gt_sted, pred_sted = vid2steds[video_id], video_pred["sted"]
        frame_ids, inter_frames = vid2imgids[video_id]
        min_start, max_end = min(gt_sted[0], pred_sted[0]), max(gt_sted[1], pred_sted[1])
        max_start, min_end = max(gt_sted[0], pred_sted[0]), min(gt_sted[1], pred_sted[1])
        vid_metrics[video_id] = {"gt_sted": gt_sted, "pred_sted": pred_sted,
                                 "tiou": _tiou(gt_sted, pred_sted), "img_metrics": {}}
        union_predgt = [f for f in frame_ids if min_start <= f < max_end]
        inter_predgt = set([f for f in frame_ids if max_start <= f < min_end])
        viou = gt_viou = 0
        for image_id in inter_frames:
            if image_id not in predictions:
                raise RuntimeError(f"No prediction for frame {image_id}")
            gt_boxes = img2box[image_id]
            pred_boxes = predictions[image_id]["boxes"]
            iou = _np_box_iou(np.array(pred_boxes), np.array(gt_boxes))[0][0]
            frame_id = int(image_id.split("_")[1])
            vid_metrics[video_id]["img_metrics"][image_id] = {
                "iou": iou, "pred_box": pred_boxes[0], "gt_box": gt_boxes[0]
            }
            if frame_id in inter_predgt:
                viou += iou
            gt_viou += iou
        viou = viou / max(len(union_predgt), 1)
        vid_metrics[video_id]["viou"] = viou
        vid_metrics[video_id]["gt_viou"] = gt_viou / max(len(inter_frames), 1)
        vid_metrics[video_id].update(_recalls(viou))
    results = vid_metrics
    return _summarize(results)


def run_stcat(folder: Path) -> dict[str, float]:
    """STCAT's HC-STVG dataset cache + ``HCSTVGiouEvaluator`` on the raw json."""
    import pickle

    with open(folder / "test.json") as fr:
        hcstvg_anno = json.load(fr)
    vstg_anno, pair_cnt = {}, 0  # HCSTVGDataset.preprocess
    for vid in hcstvg_anno:
        anno = hcstvg_anno[vid]
        data_pairs = {"vid": vid, "width": anno["width"], "height": anno["height"]}
        data_pairs["frame_count"] = anno["img_num"]
        data_pairs["tube_start_frame"] = anno["st_frame"] - 1
        data_pairs["tube_end_frame"] = data_pairs["tube_start_frame"] + len(anno["bbox"]) - 1
        data_pairs["id"] = pair_cnt
        data_pairs["sentence"] = anno["caption"]
        data_pairs["target_bboxs"] = anno["bbox"]
        vstg_anno[pair_cnt] = data_pairs
        pair_cnt += 1
    for miss_name in ("10__Gvp-cj3bmIY.mp4", "1_aMYcLyh9OhU.mkv"):  # clean_miss
        for key in [k for k, item in vstg_anno.items() if item["vid"] == miss_name]:
            del vstg_anno[key]
    gt_anno = []  # load_data, the evaluation half
    for anno_id in vstg_anno:
        gt_file = vstg_anno[anno_id]
        end_fid = gt_file["frame_count"] - 1
        temp_gt_begin = max(0, gt_file["tube_start_frame"])
        temp_gt_end = min(gt_file["tube_end_frame"], end_fid)
        assert len(gt_file["target_bboxs"]) == temp_gt_end - temp_gt_begin + 1
        bbox_array = []
        for idx in range(len(gt_file["target_bboxs"])):
            x1, y1, w, h = gt_file["target_bboxs"][idx]
            bbox_array.append(np.array([x1, y1, x1 + w, y1 + h]))
            assert x1 <= gt_file["width"] and x1 + w <= gt_file["width"]
            assert y1 <= gt_file["height"] and y1 + h <= gt_file["height"]
        bbox_array = np.array(bbox_array)
        gt_bbox_dict = {
            fid: bbox_array[fid - temp_gt_begin].tolist()
            for fid in range(temp_gt_begin, temp_gt_end + 1)
        }
        gt_anno.append(
            {"item_id": gt_file["id"], "vid": gt_file["vid"], "bboxs": gt_bbox_dict,
             "description": gt_file["sentence"], "gt_temp_bound": [temp_gt_begin, temp_gt_end],
             "frame_count": gt_file["frame_count"]}
        )  # fmt: skip
    cache = folder / "hcstvg-test-anno.cache"
    with open(cache, "wb") as handle:  # torch.save
        pickle.dump(gt_anno, handle)
    with open(cache, "rb") as handle:  # torch.load, in the evaluator
        gt_data = pickle.load(handle)
    vid2steds, vid2box = {}, {}
    for data_item in gt_data:
        box_dict = data_item["bboxs"]
        vid2box[data_item["item_id"]] = {key: [box_dict[key]] for key in box_dict}
        vid2steds[data_item["item_id"]] = data_item["gt_temp_bound"]
    data = json.load(open(folder / "pred_stcat.json"))
    predictions = {
        int(item): {int(fid): boxes for fid, boxes in frames.items()}
        for item, frames in data["frames"].items()
    }
    video_predictions = {int(k): v for k, v in data["videos"].items()}
    vid_metrics = {}
    for video_id, video_pred in video_predictions.items():
        gt_sted, pred_sted = vid2steds[video_id], video_pred["sted"]
        min_start, max_end = min(gt_sted[0], pred_sted[0]), max(gt_sted[1], pred_sted[1])
        max_start, min_end = max(gt_sted[0], pred_sted[0]), min(gt_sted[1], pred_sted[1])
        vid_metrics[video_id] = {"gt_sted": gt_sted, "pred_sted": pred_sted,
                                 "tiou": _tiou(gt_sted, pred_sted), "img_metrics": {}}
        union_predgt = set([frame_id for frame_id in range(min_start, max_end)])
        inter_predgt = set([frame_id for frame_id in range(max_start, min_end)])
        viou = gt_viou = 0
        prediction = predictions[video_id]
        for fid in vid2box[video_id].keys():
            if fid not in prediction:
                raise RuntimeError(f"No prediction for frame {fid}")
            pred_boxes = prediction[fid]
            gt_boxes = vid2box[video_id][fid]
            iou = _np_box_iou(np.array(pred_boxes), np.array(gt_boxes))[0][0]
            if fid in inter_predgt:
                viou += iou
            gt_viou += iou
        viou = viou / max(len(union_predgt), 1)
        vid_metrics[video_id]["viou"] = viou
        vid_metrics[video_id].update(_recalls(viou))
        vid_metrics[video_id]["gt_viou"] = gt_viou / max(len(vid2box[video_id]), 1)
    results = vid_metrics
    return _summarize(results)


# -------------------------------------------------------------------------------- the runner
def _tubescope_command() -> list[str]:
    found = shutil.which("tubescope", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "tubescope.cli.main"]


def _one_core() -> None:
    """Pin the process to one core (then ``tubescope eval`` reads both files itself)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _timed(command: list[str], *, one_core: bool = False) -> tuple[float, float, str]:
    """Run ``command`` in a fresh process: (wall seconds, CPU seconds, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    pin = _one_core if one_core and hasattr(os, "sched_setaffinity") else None
    proc = subprocess.run(command, capture_output=True, text=True, preexec_fn=pin)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def run_all(paths: dict[str, Path]) -> dict[str, dict[str, object]]:
    folder = paths["annotations"].parent
    runs: dict[str, dict[str, object]] = {}
    for protocol, peer in (("tubedetr", "TubeDETR"), ("stcat", "STCAT")):
        out = folder / f"ours_{protocol}.json"
        command = [*_tubescope_command(), "eval", "--dataset", "hcstvg-v1", "--annotations",
                   str(paths["annotations"]), "--predictions", str(paths["predictions"]),
                   "--protocol", protocol, "--json-out", str(out)]  # fmt: skip
        wall, cpu, _ = _timed(command)
        ours = json.loads(out.read_text())
        out.unlink()
        wall_1, cpu_1, _ = _timed(command, one_core=True)
        ours_1 = json.loads(out.read_text())
        peer_wall, peer_cpu, printed = _timed(
            [sys.executable, __file__, "--run", protocol, str(folder)]
        )
        theirs = json.loads(printed.strip().splitlines()[-1])
        torch_s = theirs.pop("import_torch_s")
        runs[protocol] = {
            "peer": peer,
            "tubescope_wall_s": wall,
            "tubescope_cpu_s": cpu,
            "tubescope_one_core_wall_s": wall_1,
            "tubescope_one_core_cpu_s": cpu_1,
            "ratio_wall_one_core": peer_wall / wall_1,
            "peer_wall_s": peer_wall,
            "peer_cpu_s": peer_cpu,
            "peer_import_torch_s": torch_s,
            "ratio_wall": peer_wall / wall,
            "ratio_wall_without_torch_import": (peer_wall - torch_s) / wall,
            "ratio_cpu": peer_cpu / cpu,
            "tubescope": {k: ours[k] for k in METRICS},
            "peer_metrics": theirs,
            "identical": all(ours[k] == theirs[k] == ours_1[k] for k in METRICS),
        }
    return runs


def parse_comparison(paths: dict[str, Path]) -> dict[str, dict[str, float]]:
    """CPU seconds (best of 3) to parse the two files into Python objects with json, orjson
    and msgspec (those installed)."""
    parsers = {"json": lambda b: json.loads(b)}
    try:
        import orjson

        parsers["orjson"] = orjson.loads
    except ImportError:
        pass
    try:
        import msgspec

        parsers["msgspec"] = msgspec.json.decode
    except ImportError:
        pass
    out: dict[str, dict[str, float]] = {}
    ann = paths["annotations"].read_bytes()
    lines = paths["predictions"].read_bytes().splitlines()
    for name, parse in parsers.items():
        best = [float("inf"), float("inf")]
        for _ in range(3):
            t0 = time.process_time()
            parse(ann)
            t1 = time.process_time()
            for line in lines:
                parse(line)
            t2 = time.process_time()
            best = [min(best[0], t1 - t0), min(best[1], t2 - t1)]
        out[name] = {"annotations_s": best[0], "predictions_s": best[1]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 queries")
    parser.add_argument("--parse", action="store_true", help="also compare JSON parsers")
    parser.add_argument("--keep", type=Path, default=None, help="write the files here")
    parser.add_argument("--out", type=Path, default=RESULTS / "eval.json")
    parser.add_argument("--run", nargs=2, metavar=("PEER", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:  # a peer pipeline, in its own process
        peer, folder = args.run
        t0 = time.perf_counter()
        try:
            import torch  # noqa: F401  (their evaluator modules import it)
        except ImportError:
            pass
        imported = time.perf_counter() - t0
        metrics = (run_tubedetr if peer == "tubedetr" else run_stcat)(Path(folder))
        print(json.dumps({**metrics, "import_torch_s": imported}))
        return
    n = 1_000 if args.quick else args.queries
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"writing {n} HC-STVG queries to {folder} ...", flush=True)
        paths = write_files(n, folder)
        if hasattr(os, "sync"):
            os.sync()  # the files' write-back would otherwise run during the first timings
        sizes = {k: p.stat().st_size / 1e6 for k, p in paths.items()}
        runs = run_all(paths)
        parsing = parse_comparison(paths) if args.parse else None
    load = os.getloadavg()
    print(
        f"\n{n} HC-STVG queries: annotations {sizes['annotations']:.0f} MB, predictions "
        f"{sizes['predictions']:.0f} MB (TubeDETR's {sizes['tubedetr']:.0f} MB, STCAT's "
        f"{sizes['stcat']:.0f} MB); {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} at the end"
    )
    head = ("protocol", "tubescope", "peer", "peer time", "ratio", "no torch", "1 core",
            "ratio", "CPU: ours", "peer", "ratio", "identical")  # fmt: skip
    print(f"{head[0]:<9} {head[1]:>10} {head[2]:>9} {head[3]:>10} {head[4]:>7} {head[5]:>9} "
          f"{head[6]:>7} {head[7]:>6} {head[8]:>10} {head[9]:>8} {head[10]:>7} "
          f"{head[11]:>10}")  # fmt: skip
    for protocol, r in runs.items():
        print(
            f"{protocol:<9} {r['tubescope_wall_s']:9.2f}s {r['peer']:>9} {r['peer_wall_s']:9.2f}s "
            f"{r['ratio_wall']:6.1f}x {r['ratio_wall_without_torch_import']:8.1f}x "
            f"{r['tubescope_one_core_wall_s']:6.2f}s {r['ratio_wall_one_core']:5.1f}x "
            f"{r['tubescope_cpu_s']:9.2f}s {r['peer_cpu_s']:7.2f}s "
            f"{r['ratio_cpu']:6.1f}x {r['identical']!s:>10}"
        )
    print("(wall times from process start to printed numbers; 'no torch': the peer's time less "
          "its torch import; '1 core': tubescope pinned to one core, so it reads the two files "
          "one after the other instead of in two processes)")
    if parsing:
        print("\nparse (CPU s)   annotations  predictions (line by line)")
        for name, t in parsing.items():
            print(f"{name:<14} {t['annotations_s']:11.2f} {t['predictions_s']:12.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "queries": n,
        "file_mb": sizes,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "load_average_end": load,
        "protocols": runs,
        "parsers_cpu_s": parsing,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not all(r["identical"] for r in runs.values()):
        raise SystemExit("MISMATCH: tubescope and a peer printed different numbers")


if __name__ == "__main__":
    main()
