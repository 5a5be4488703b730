"""Benchmark: tubescope.eval (vectorised) vs a straightforward per-frame Python loop.

Generates N synthetic HC-STVG-like queries (100-600 frames, random GT spans and box walks,
random predicted tubes with sparse boxes, ~5% missing predictions), evaluates them with
``tubescope.eval.evaluate`` and with a per-frame loop written here the way the reference
evaluators are written (TubeDETR's and STCAT's loops), checks that both give the same numbers
(1e-9), prints a table and writes ``bench/results/eval.json``.

    .venv/bin/python bench/eval.py            # 10,000 queries
    .venv/bin/python bench/eval.py --quick    # 500 queries
    .venv/bin/python bench/eval.py --queries 2000
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from tubescope import Tube
from tubescope.eval import GTQuery, evaluate, load_annotations, read_predictions


# --------------------------------------------------------------------------------- synthetic data
def make_data(n: int, seed: int = 0) -> tuple[list[GTQuery], dict[str, Tube | None]]:
    rng = np.random.default_rng(seed)
    queries: list[GTQuery] = []
    predictions: dict[str, Tube | None] = {}
    for i in range(n):
        frame_count = int(rng.integers(100, 601))
        length = int(rng.integers(10, frame_count // 2))
        start = int(rng.integers(0, frame_count - length))
        w, h = 640, 360
        xy = rng.uniform(0, 400, 2)
        wh = rng.uniform(20, 200, 2)
        walk = np.cumsum(rng.normal(0, 2, (length, 4)), axis=0)
        xywh = np.column_stack(
            [
                xy[0] + walk[:, 0],
                xy[1] + walk[:, 1],
                np.abs(wh[0] + walk[:, 2]),
                np.abs(wh[1] + walk[:, 3]),
            ]
        )
        boxes = np.column_stack(
            [xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]]
        )
        qid = f"{i}_synthetic"
        queries.append(
            GTQuery(
                qid,
                qid,
                "someone does something",
                None,
                "hcstvg",
                frame_count,
                frame_count / 20,
                w,
                h,
                start,
                start + length,
                np.arange(start, start + length),
                boxes,
                index=i,
                st_frame=start + 1,
            )
        )
        if rng.random() < 0.05:
            continue  # missing
        ps = int(np.clip(start + rng.integers(-length, length), 0, frame_count - 2))
        pe = int(np.clip(ps + rng.integers(1, 2 * length), ps + 1, frame_count))
        step = int(rng.integers(1, 6))
        frames = np.arange(ps, pe, step)
        noise = rng.normal(0, 8, (len(frames), 4))
        ref = boxes[np.clip(frames - start, 0, length - 1)] + noise
        pb = np.column_stack(
            [
                np.minimum(ref[:, 0], ref[:, 2]),
                np.minimum(ref[:, 1], ref[:, 3]),
                np.maximum(ref[:, 0], ref[:, 2]),
                np.maximum(ref[:, 1], ref[:, 3]),
            ]
        )
        predictions[qid] = Tube(ps, pe, frames=frames, boxes=pb)
    return queries, predictions


# ------------------------------------------------------------------------------ per-frame loops
def _iou(a, b) -> float:
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = w * h
    union = area_a + area_b - inter
    return inter / union if union else 0.0


def _tiou(gs, ge, ps, pe) -> float:
    max_start, min_end = max(gs, ps), min(ge, pe)
    if min_end <= max_start:
        return 0.0
    inter = min_end - max_start
    return inter / ((ge - gs) + (pe - ps) - inter)


def loop_tubedetr(queries, predictions) -> list[tuple[float, float, float]]:
    out = []
    for q in queries:
        tube = predictions.get(q.query_id)
        if tube is None:
            out.append((0.0, 0.0, 0.0))
            continue
        rate = 5 / (q.frame_count / 20)
        frame_ids = [0]
        for f in range(0, q.frame_count - 1):
            if int(frame_ids[-1] * rate) < int(f * rate):
                frame_ids.append(f)
        if len(frame_ids) > 200:
            frame_ids = [frame_ids[(j * len(frame_ids)) // 200] for j in range(200)]
        gs, ge = q.st_frame, q.st_frame + len(q.boxes)
        ps, pe = tube.start_frame, tube.end_frame
        tiou = _tiou(gs, ge, ps, pe)
        min_start, max_end = min(gs, ps), max(ge, pe)
        max_start, min_end = max(gs, ps), min(ge, pe)
        union = [f for f in frame_ids if min_start <= f < max_end]
        inter = {f for f in frame_ids if max_start <= f < min_end}
        viou = gt_viou = 0.0
        gt_frames = [f for f in frame_ids if gs <= f < ge]
        for f in gt_frames:
            pred = tube.box_at(f)
            iou = 0.0 if pred is None else _iou(pred, q.boxes[f - gs])
            if f in inter:
                viou += iou
            gt_viou += iou
        out.append((tiou, viou / max(len(union), 1), gt_viou / max(len(gt_frames), 1)))
    return out


def loop_stcat(queries, predictions) -> list[tuple[float, float, float]]:
    out = []
    for q in queries:
        tube = predictions.get(q.query_id)
        if tube is None:
            out.append((0.0, 0.0, 0.0))
            continue
        gs = q.st_frame - 1
        ge = min(gs + len(q.boxes) - 1, q.frame_count - 1)
        ps, pe = tube.start_frame, tube.end_frame
        tiou = _tiou(gs, ge, ps, pe)
        union = set(range(min(gs, ps), max(ge, pe)))
        inter = set(range(max(gs, ps), min(ge, pe)))
        viou = gt_viou = 0.0
        for f in range(gs, ge + 1):
            pred = tube.box_at(f)
            iou = 0.0 if pred is None else _iou(pred, q.boxes[f - gs])
            if f in inter:
                viou += iou
            gt_viou += iou
        out.append((tiou, viou / max(len(union), 1), gt_viou / max(ge - gs + 1, 1)))
    return out


# ------------------------------------------------------------------------------------------ main
def _write_files(queries, predictions, directory: Path) -> tuple[Path, Path]:
    raw = {}
    for q in queries:
        xywh = q.boxes.copy()
        xywh[:, 2:] -= xywh[:, :2]
        raw[f"{q.video_id}.mp4"] = {
            "img_num": q.frame_count,
            "width": q.width,
            "height": q.height,
            "st_frame": q.st_frame,
            "bbox": xywh.tolist(),
            "caption": q.query,
        }
    ann = directory / "test.json"
    ann.write_text(json.dumps(raw))
    pred = directory / "pred.jsonl"
    with pred.open("w") as handle:
        for qid, tube in predictions.items():
            handle.write(
                json.dumps({"video_id": qid, "tube": None if tube is None else tube.to_dict()})
                + "\n"
            )
    return ann, pred


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="500 queries")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs of our evaluator (best is kept)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval.json")
    args = parser.parse_args()
    n = 500 if args.quick else args.queries

    queries, predictions = make_data(n)
    results = {}
    for protocol, loop in (("tubedetr", loop_tubedetr), ("stcat", loop_stcat)):
        ours_times = []
        for _ in range(max(args.repeat, 1)):
            t0 = time.perf_counter()
            report = evaluate(queries, predictions, protocol=protocol)
            ours_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        reference = np.array(loop(queries, predictions))
        loop_time = time.perf_counter() - t0
        s = report.scores
        ours = np.column_stack([s.tiou, s.viou, s.gt_viou])
        max_diff = float(np.abs(ours - reference).max())
        agg_loop = {
            "m_tIoU": reference[:, 0].mean(),
            "m_vIoU": reference[:, 1].mean(),
            "vIoU@0.3": (reference[:, 1] > 0.3).mean(),
            "vIoU@0.5": (reference[:, 1] > 0.5).mean(),
        }
        agg_diff = max(abs(report.to_dict()[k] - v) for k, v in agg_loop.items())
        results[protocol] = {
            "ours_s": min(ours_times),
            "loop_s": loop_time,
            "speedup": loop_time / min(ours_times),
            "max_abs_diff_per_query": max_diff,
            "max_abs_diff_aggregate": float(agg_diff),
            "equal": bool(max_diff <= 1e-9 and agg_diff <= 1e-9),
            "metrics": report.to_dict(),
        }

    with tempfile.TemporaryDirectory() as tmp:
        ann, pred = _write_files(queries, predictions, Path(tmp))
        t0 = time.perf_counter()
        loaded_q = load_annotations(ann, "hcstvg-v1")
        t1 = time.perf_counter()
        loaded_p = read_predictions(pred)
        t2 = time.perf_counter()
        file_report = evaluate(loaded_q, loaded_p)
        t3 = time.perf_counter()
        file_equal = file_report.to_dict() == evaluate(queries, predictions).to_dict()
    io = {
        "load_annotations_s": t1 - t0,
        "read_predictions_jsonl_s": t2 - t1,
        "evaluate_loaded_s": t3 - t2,
        "same_numbers_from_files": file_equal,
    }

    missing = n - sum(v is not None for v in predictions.values())
    machine = platform.processor() or platform.machine()
    print(
        f"tubescope.eval benchmark: {n} queries ({missing} missing), {machine}, "
        f"numpy {np.__version__}"
    )
    h = ("protocol", "ours (s)", "loop (s)", "ratio", "max |diff|", "equal")
    print(f"{h[0]:<10} {h[1]:>9} {h[2]:>9} {h[3]:>7} {h[4]:>11} {h[5]:>6}")
    for protocol, r in results.items():
        print(
            f"{protocol:<10} {r['ours_s']:9.3f} {r['loop_s']:9.3f} {r['speedup']:6.1f}x "
            f"{r['max_abs_diff_per_query']:11.1e} {r['equal']!s:>6}"
        )
    print(
        f"file I/O (not in 'ours'): load annotations {io['load_annotations_s']:.2f} s, "
        f"read JSONL predictions {io['read_predictions_jsonl_s']:.2f} s, "
        f"evaluate {io['evaluate_loaded_s']:.2f} s, same numbers: {io['same_numbers_from_files']}"
    )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "queries": n,
        "missing": missing,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "protocols": results,
        "file_io": io,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not all(r["equal"] for r in results.values()) or not file_equal:
        raise SystemExit("MISMATCH between the vectorised evaluator and the loop")


if __name__ == "__main__":
    main()
