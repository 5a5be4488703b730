"""Benchmark: end-to-end seconds per query, tubescope's ``paper`` preset vs the official way.

Both ground the same queries on the same seeded synthetic clips with official-format
proposals (a box and a mask every 10th frame), with the same random-weight Qwen2-VL model:

* **ours** — ``Grounder.ground_many`` with the ``paper`` preset: the vision tower runs once per
  video; one prefill forward per question (no ``generate``), the video prefix shared between
  the questions of a step; attention captured only for the grounding-token row; the
  unprompted caption pass reused;
* **official** — the oracle of ``tests/oracle/official.py``, an independent re-implementation of
  the official decision path (it imports nothing of ``tubescope.engine``) run the official
  code's way: the vision tower once per query, every question a full forward with eager
  attention and ``output_attentions=True`` (all layers x heads x N x N), followed by the rest
  of ``generate`` (4 more tokens at inference, 9 in LRA); LRA backpropagates through full
  forwards.

The decisions (chosen track and span) are compared: ``same decisions N/N`` counts the queries
where ours equals the oracle's. Prints a table and writes ``bench/results/engine.json``. The
vision tower of the random model is tiny, so the official way's repeated encodes cost less
here than with a real 7B model's ViT: the ratio is a lower bound.

    python bench/engine.py [--layers 8] [--hidden 256] [--dataset hcstvg-v1] [--clips 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests.oracle

from tests.oracle.cases import GivenParts, make_case  # noqa: E402
from tests.oracle.official import OfficialModel, OfficialSettings, official_ground  # noqa: E402
from tubescope._version import __version__  # noqa: E402
from tubescope.engine.backends import load_backend  # noqa: E402
from tubescope.engine.config import preset  # noqa: E402
from tubescope.grounder import Grounder  # noqa: E402
from tubescope.testing import save_tiny_model  # noqa: E402

RESULTS = Path(__file__).parent / "results"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
FRAMES_THRE = {"hcstvg-v1": 7, "hcstvg-v2": 10, "vidstg": 5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dataset", default="hcstvg-v1", choices=sorted(FRAMES_THRE),
                        help="paper settings of this dataset (hcstvg-v1: 10 frames at 224 px for Qwen2-VL)")
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (on a shared 2-core machine more threads slow small models down)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="tubescope-bench-"))
    model_dir = save_tiny_model("qwen2-vl", work / "model", num_layers=args.layers, hidden_size=args.hidden,
                                num_heads=8, num_kv_heads=4)
    config = preset("paper", "qwen2-vl", dataset=args.dataset)
    settings = OfficialSettings(frames=config.num_frames, resolution=224, token_idx=-3, pool_stride=1,
                                epochs=2, frames_thre=FRAMES_THRE[args.dataset])
    cases = [make_case(seed, work, width=320, height=240) for seed in range(args.clips)]
    backend = load_backend(model_dir, device="cpu", **config.backend_options)
    official = OfficialModel(model_dir, "qwen2-vl", dtype=torch.float32, decode_steps=(9, 4))
    queries = sum(len(c.queries) for c in cases)

    def run_ours():
        out = []
        for case in cases:
            grounder = Grounder(backend, proposals=f"precomputed:{case.path}", decomposer=GivenParts(case.queries),
                                config=config)
            out += [(r.track_id, r.tube.span) for r in grounder.ground_many(case.frames, [q.text for q in case.queries])]
        return out

    def run_official():
        out = []
        for case in cases:
            ids = [t["id"] for t in case.proposals["dino_sam2_proposals"]]
            for q in case.queries:  # the official code encodes the video again for every query
                d = official_ground(official, case.frames, case.proposals, q.parts.attribute, q.parts.action, settings)
                out.append((ids[d.track], (d.sted[0], d.sted[1] + 1)))
        return out

    backend.reset_counters()
    ours_times, official_times = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = run_ours()
        ours_times.append(time.perf_counter() - start)
        official.decoded = 0
        start = time.perf_counter()
        theirs = run_official()
        official_times.append(time.perf_counter() - start)
    ours_s = statistics.median(ours_times) / queries
    official_s = statistics.median(official_times) / queries
    same = sum(a == b for a, b in zip(ours, theirs))
    counters = {k: v // args.repeats for k, v in backend.counters.items()}

    print(f"\nper query, {queries} queries on {args.clips} clips, Qwen2-VL random model ({args.layers} layers, "
          f"hidden {args.hidden}), paper preset for {args.dataset}: {config.num_frames} frames at 224 px, "
          f"LRA {config.lra_steps} steps, TAS, {args.threads} torch thread(s) (median of {args.repeats})")
    print(f"{'pipeline':<10}{'s/query':>10}{'ratio':>9}")
    print(f"{'official':<10}{official_s:>10.3f}{1.0:>8.2f}x")
    print(f"{'ours':<10}{ours_s:>10.3f}{official_s / ours_s:>8.2f}x")
    print(f"ours: {counters['vision_encodes']} vision encodes, {counters['forward_passes']} question forwards, "
          f"{counters['prefix_passes']} shared-prefix forwards; official: one encode per query, "
          f"{official.decoded // args.repeats} extra decoding steps")
    print(f"same decisions {same}/{len(ours)} (chosen track and span, against the oracle)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "engine.json"
    out.write_text(json.dumps({
        "benchmark": "engine",
        "setup": vars(args),
        "seconds_per_query": {"ours": ours_s, "official": official_s},
        "speedup": official_s / ours_s,
        "ours_counters": counters,
        "same_decisions": [same, len(ours)],
        "decisions": {"ours": ours, "official": theirs},
        "tubescope": __version__,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine()},
    }, indent=2, default=list))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
