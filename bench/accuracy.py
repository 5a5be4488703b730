"""Benchmark: grounding accuracy of the engine's settings on a synthetic STVG set.

Held-out synthetic clips (``tubescope.synthetic``, seeds the trainer never uses) with 2-3 moving
shapes each: distractors of other colours and kinds, shapes that appear and disappear part-way
(the ground-truth span is where the target is visible), straight-line motions in every
direction. Every shape is asked about with an attribute query ("the red shape" or "the red
circle") and one shape per clip with its full description ("the red circle moving up", which
the rule decomposer splits into an attribute and an action). The true tracks are the proposals,
so the spatial question is only *which* track; the temporal one is the span.

Settings: ``default``, ``paper`` (the official decisions at the benchmark's frame count and
window; ``paper-native`` also with the official Qwen2-VL frame geometry: 224 x 224, duplicated
frames, 1-D positions), and ablations of ``default``, one change each: no LRA, two LRA steps,
no TAS, no decomposition (full query in both branches), each token rule, the ``centre``
coverage, each span strategy and span mode, spans allowed outside the track, frames sampled
over the proposals, the official tie rule. Per setting: m_tIoU, m_vIoU, vIoU@0.5
(``tubescope.eval.evaluate``, STCAT protocol: every annotated frame) and the chosen-track
accuracy of the attribute and description queries (chance: one in the number of shapes).
Prints one table and writes ``bench/results/accuracy.json``.

    python bench/accuracy.py --model /tmp/runs/tiny/checkpoint [--clips 40] [--frames 8] [--window 4]
    python bench/accuracy.py --random --clips 2   # a random-weight tiny model: plumbing only

Without ``--model`` or ``--random`` the demo's shipped model is used when the package has one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
#: seeds of the benchmark clips (the trainer's streams start at 0 and 10_000_000)
BENCH_BASE = 20_000_000
SIZES = ((112, 112), (160, 120), (128, 128), (224, 168))


@dataclass(frozen=True)
class Setting:
    """One row of the table: a configuration, the backend options it loads with, a decomposer."""

    name: str
    changes: dict[str, Any]
    base: str = "default"  # the preset the changes apply to
    native: bool = False  # keep the preset's own frame geometry (resolution, backend options)
    decomposer: str = "rules"


SETTINGS: tuple[Setting, ...] = (
    Setting("default", {}),
    Setting("paper", {}, base="paper"),
    Setting("paper-native", {}, base="paper", native=True),
    Setting("no LRA", {"lra_steps": 0}),
    Setting("LRA 2 steps", {"lra_steps": 2}),
    Setting("no TAS", {"tas": False}),
    Setting("TAS normalised", {"tas_normalize": True}),
    Setting("no decomposition", {}, decomposer="none"),
    Setting("token fixed (-3)", {"token_rule": "fixed"}),
    Setting("token mean", {"token_rule": "mean"}),
    Setting("coverage centre", {"coverage": "centre"}),
    Setting("frame score coverage", {"frame_score": "coverage"}),
    Setting("span topk", {"temporal_strategy": "topk"}),
    Setting("span adaptive", {"temporal_strategy": "adaptive"}),
    Setting("span mode sampled", {"span_mode": "sampled"}),
    Setting("span outside track", {"span_inside_track": False}),
    Setting("window tie stop", {"window_tie": "stop"}),
    Setting("sample proposals", {"sample_frames": "proposals"}),
)


class NoSplit:
    """A decomposer that never splits: both branches ask the full query."""

    name = "none"

    def decompose(self, query: str, video_id: str | None = None) -> Any:
        from tubescope.types import SubQueries

        return SubQueries(attribute=None, action=None, fell_back=True, source="none")


@dataclass(frozen=True)
class BenchQuery:
    """One query of the benchmark: its clip, text, kind and target object."""

    clip: int
    query_id: str
    text: str
    kind: str  # "attribute" or "description"
    target: int
    shapes: int


def make_clips(count: int, *, length: int = 48, seed: int = 0) -> list[tuple[Any, np.ndarray, list[BenchQuery]]]:
    """``count`` clips with their frames and queries (deterministic in ``seed``)."""
    from tubescope.synthetic import make_clip

    out = []
    for i in range(count):
        rng = np.random.default_rng([BENCH_BASE + seed, i])
        shapes = int(rng.integers(2, 4))
        width, height = SIZES[int(rng.integers(len(SIZES)))]
        clip = make_clip(None, width=width, height=height, num_frames=length, num_shapes=shapes,
                         seed=int(rng.integers(2**31)), barcode=bool(rng.random() < 0.5))
        queries = []
        for obj in clip.objects:
            text = f"the {obj.spec.color} shape" if rng.random() < 0.5 else f"the {obj.name}"
            queries.append(BenchQuery(i, f"c{i}-t{obj.track_id}", text, "attribute", obj.track_id, shapes))
        described = clip.objects[int(rng.integers(len(clip.objects)))]
        queries.append(BenchQuery(i, f"c{i}-d{described.track_id}", described.description, "description",
                                  described.track_id, shapes))
        out.append((clip, clip.to_array(), queries))
    return out


def ground_truth(clip: Any, query: BenchQuery) -> Any:
    """The target's tube as a :class:`tubescope.eval.GTQuery`."""
    from tubescope.eval import GTQuery

    tube = clip.objects[query.target].tube.dense()
    return GTQuery(query.query_id, query.query_id, query.text, None, "hcstvg", clip.num_frames,
                   float(clip.fps), clip.width, clip.height, tube.start_frame, tube.end_frame,
                   frames=list(range(tube.start_frame, tube.end_frame)), boxes=tube.boxes)


def setting_config(setting: Setting, frames: int, window: int) -> Any:
    from tubescope.engine.config import preset

    base = preset(setting.base, "qwen2-vl")
    changes = {"num_frames": frames, "temporal_k": window, **setting.changes}
    if setting.base != "default" and not setting.native:  # the model's own frame geometry
        changes.update(resolution=None, backend_options={})
    return base.replace(**changes)


def run_setting(
    setting: Setting, model_dir: Path, clips: Sequence[tuple[Any, np.ndarray, list[BenchQuery]]],
    frames: int, window: int, backends: dict[str, Any],
) -> dict[str, Any]:
    """Ground every query of ``clips`` with ``setting``; the row of the table."""
    from tubescope.engine.backends import load_backend
    from tubescope.eval import evaluate
    from tubescope.grounder import Grounder

    config = setting_config(setting, frames, window)
    key = json.dumps(config.backend_options, sort_keys=True)
    if key not in backends:
        backends[key] = load_backend(model_dir, device="cpu", **config.backend_options)
    decomposer = NoSplit() if setting.decomposer == "none" else setting.decomposer
    grounder = Grounder(backends[key], decomposer=decomposer, config=config)
    started = time.perf_counter()
    gts, predictions, hits = [], {}, {"attribute": [], "description": []}
    for clip, array, queries in clips:
        tracks = [o.track for o in clip.objects]
        results = grounder.ground_many(array, [q.text for q in queries], tracks=tracks)
        for query, result in zip(queries, results, strict=True):
            gts.append(ground_truth(clip, query))
            predictions[query.query_id] = result
            hits[query.kind].append(result.track_id == query.target)
    report = evaluate(gts, predictions, protocol="stcat")
    metrics = report.to_dict()
    chance = float(np.mean([1.0 / q.shapes for _, _, qs in clips for q in qs if q.kind == "attribute"]))
    return {
        "setting": setting.name,
        "m_tIoU": float(metrics["m_tIoU"]),
        "m_vIoU": float(metrics["m_vIoU"]),
        "vIoU@0.5": float(metrics["vIoU@0.5"]),
        "track_acc_attribute": float(np.mean(hits["attribute"])),
        "track_acc_description": float(np.mean(hits["description"])),
        "track_chance": chance,
        "queries": len(gts),
        "seconds": round(time.perf_counter() - started, 2),
        "config": config.to_dict(),
    }


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows side by side, with each metric's ratio to ``default`` (the first row)."""
    head = f"{'setting':<22} {'m_tIoU':>7} {'m_vIoU':>7} {'vIoU@.5':>7} {'acc attr':>8} {'acc desc':>8} {'vIoU/def':>8}"
    lines = [head, "-" * len(head)]
    base = rows[0]["m_vIoU"] if rows else 0.0
    for r in rows:
        ratio = f"{r['m_vIoU'] / base:.2f}" if base else "-"
        lines.append(
            f"{r['setting']:<22} {r['m_tIoU']:>7.3f} {r['m_vIoU']:>7.3f} {r['vIoU@0.5']:>7.3f} "
            f"{r['track_acc_attribute']:>8.3f} {r['track_acc_description']:>8.3f} {ratio:>8}"
        )
    return "\n".join(lines)


def default_model() -> Path | None:
    """The checkpoint shipped with the package for the demo, if there is one."""
    try:
        from tubescope.assets import demo_model_path
    except ImportError:
        return None
    path = demo_model_path()
    return path if path is not None and path.exists() else None


def run(
    model_dir: Path, *, clips: int = 40, frames: int = 8, window: int = 4, seed: int = 0,
    settings: Sequence[str] | None = None, out: Path | None = RESULTS / "accuracy.json",
    model_name: str | None = None, print_fn: Any = print,
) -> dict[str, Any]:
    """Run the benchmark; returns (and writes to ``out``) the JSON document."""
    chosen = [s for s in SETTINGS if settings is None or s.name in settings]
    unknown = sorted(set(settings or ()) - {s.name for s in SETTINGS})
    if unknown:
        raise SystemExit(f"unknown setting(s) {unknown}; choose from {[s.name for s in SETTINGS]}")
    data = make_clips(clips, length=max(48, 2 * frames), seed=seed)
    backends: dict[str, Any] = {}
    rows = []
    for setting in chosen:
        rows.append(run_setting(setting, model_dir, data, frames, window, backends))
        print_fn(f"  {setting.name}: m_vIoU {rows[-1]['m_vIoU']:.3f} track acc {rows[-1]['track_acc_attribute']:.3f}"
                 f" ({rows[-1]['seconds']} s)")
    table = format_table(rows)
    print_fn(table)
    from tubescope._version import __version__

    doc = {
        "benchmark": "accuracy",
        "tubescope": __version__,
        "model": model_name or str(model_dir),
        "clips": clips,
        "queries": rows[0]["queries"] if rows else 0,
        "frames": frames,
        "window": window,
        "seed": seed,
        "protocol": "stcat",
        "python": platform.python_version(),
        "rows": rows,
        "table": table.splitlines(),
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(out)
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a Qwen2-VL checkpoint directory (e.g. the trainer's)")
    parser.add_argument("--random", action="store_true", help="a random-weight tiny model (plumbing only)")
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--frames", type=int, default=8, help="frames sampled per clip (the model's training count)")
    parser.add_argument("--window", type=int, default=4, help="temporal_k: sampled frames in the span")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", help="comma-separated setting names (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "accuracy.json")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.random:
        from tubescope.testing import save_tiny_model

        model_dir = save_tiny_model("qwen2-vl", Path(tempfile.mkdtemp(prefix="tubescope-acc-")) / "random")
        name = "random-weight tiny qwen2-vl (save_tiny_model)"
    else:
        model_dir = args.model or default_model()
        if model_dir is None:
            raise SystemExit("no model: pass --model DIR (a trained checkpoint) or --random")
        name = str(model_dir)
    settings = [s.strip() for s in args.settings.split(",")] if args.settings else None
    run(model_dir, clips=args.clips, frames=args.frames, window=args.window, seed=args.seed,
        settings=settings, out=args.out, model_name=name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
