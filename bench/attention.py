"""Benchmark: attention of the grounding-token rows over ~4,000 visual tokens.

Compares tubescope's row capture (SDPA forward + softmax(q·kᵀ) of the requested rows only) with
what the official code does: an eager forward with ``output_attentions=True``, which keeps every
layer's ``heads x N x N`` probabilities, then slices the same rows. Both run on a random-weight
Qwen2-VL model with a real transformers architecture (8 layers, hidden 256, 8 query / 4 key
heads) written by :func:`tubescope.testing.save_tiny_model`; the visual embeddings are random
(16 temporal groups x 16 x 16 = 4,096 visual tokens, M-RoPE positions of that grid), the prompt is
the real Qwen2-VL template, and the rows are its 5 candidate grounding tokens in all 8 layers.

A plain SDPA forward that captures nothing is measured too, to show the capture's own cost.
Each variant runs in a fresh subprocess; peak memory is the process's peak resident set size
during the forward minus its resident size just before (``/proc/self/clear_refs`` resets the
peak), so model loading does not count. Time is the best of ``--repeats`` forwards (the machine
may be shared; the minimum is the least disturbed run). The two
variants' attention rows are compared (max abs difference). Prints a table with ratios and
writes ``bench/results/attention.json``.

    python bench/attention.py [--tokens-side 16] [--groups 16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
QUESTION = "Is there a red car in this video?"


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def worker(
    variant: str, model_dir: str, groups: int, side: int, repeats: int, out_file: str
) -> None:
    """Run one variant in this process and write its measurements to ``out_file``."""
    import numpy as np
    import torch
    from tubescope.engine.backends import load_backend
    from tubescope.engine.backends.base import TokenLayout, VisualTokens
    from tubescope.engine.backends.capture import install

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    backend = load_backend(model_dir)
    num = groups * side * side
    layout = TokenLayout.regular(groups * 2, groups, side, side)
    grid = torch.tensor([[groups, side * 2, side * 2]])
    embeds = torch.randn(num, backend.hidden_size) * 0.05
    visual = VisualTokens(embeds, layout, np.arange(groups * 2), extra={"video_grid_thw": grid})
    prompt = backend.prompt(QUESTION, visual)
    rows = list(prompt.candidates)

    if variant == "ours":

        def run() -> torch.Tensor:
            with torch.no_grad():
                return backend.prefill(visual, [QUESTION], per_layer=True)[0].attention

    elif variant == "sdpa":
        ids = prompt.input_ids
        emb = backend.model.get_input_embeddings()(ids[None]).clone()
        emb[0, prompt.visual_start : prompt.visual_end] = embeds
        positions = backend._position_ids(ids, visual)

        def run() -> torch.Tensor:
            with torch.no_grad():
                backend.language_model(inputs_embeds=emb, position_ids=positions, use_cache=False)
            return torch.zeros(0)

    else:
        backend.model.set_attn_implementation({"text_config": "eager"})
        ids = prompt.input_ids
        emb = backend.model.get_input_embeddings()(ids[None]).clone()
        emb[0, prompt.visual_start : prompt.visual_end] = embeds
        positions = backend._position_ids(ids, visual)

        def run() -> torch.Tensor:
            with torch.no_grad():
                out = backend.language_model(
                    inputs_embeds=emb,
                    position_ids=positions,
                    output_attentions=True,
                    use_cache=False,
                )
                kept = torch.stack(
                    [
                        a[0, :, rows, prompt.visual_start : prompt.visual_end].mean(0)
                        for a in out.attentions
                    ]
                )
                return kept.float()

    run()  # warm-up (allocator, kernels)
    times = []
    peaks = []
    result = None
    for _ in range(repeats):
        result = None
        import gc

        gc.collect()
        before = _status_kib("VmRSS")
        reset = _reset_peak()
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
        peak = _status_kib("VmHWM") if reset else _status_kib("VmRSS")
        peaks.append(max(0, peak - before))
    if variant == "eager":
        install(backend.model)
    np.save(out_file + ".npy", result.numpy())
    with open(out_file, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "variant": variant,
                "seq_len": prompt.length,
                "visual_tokens": num,
                "rows": len(rows),
                "layers": backend.num_layers,
                "heads": backend.model.config.get_text_config().num_attention_heads,
                "time_s": min(times),
                "times_s": times,
                "peak_mib": statistics.median(peaks) / 1024,
                "peaks_mib": [p / 1024 for p in peaks],
                "peak_reset": reset,
            },
            handle,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=16, help="temporal token groups")
    parser.add_argument("--tokens-side", type=int, default=16, help="tokens per side of each group")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        worker(
            args.worker[0],
            args.model_dir,
            args.groups,
            args.tokens_side,
            args.repeats,
            args.worker[1],
        )
        return

    import numpy as np
    from tubescope._version import __version__
    from tubescope.testing import save_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = save_tiny_model(
            "qwen2-vl",
            Path(tmp) / "model",
            num_layers=args.layers,
            hidden_size=args.hidden,
            num_heads=8,
            num_kv_heads=4,
        )
        results = {}
        for variant in ("sdpa", "ours", "eager"):
            out = str(Path(tmp) / f"{variant}.json")
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                variant,
                out,
                "--model-dir",
                str(model_dir),
                "--groups",
                str(args.groups),
                "--tokens-side",
                str(args.tokens_side),
                "--repeats",
                str(args.repeats),
            ]
            print(f"running {variant} ...", flush=True)
            subprocess.run(cmd, check=True)
            with open(out, encoding="utf-8") as handle:
                results[variant] = json.load(handle)
            results[variant]["attention"] = np.load(out + ".npy")
        diff = float(
            np.abs(results["ours"].pop("attention") - results["eager"].pop("attention")).max()
        )

    ours, eager, sdpa = results["ours"], results["eager"], results["sdpa"]
    results["sdpa"].pop("attention")
    memory_ratio = eager["peak_mib"] / max(ours["peak_mib"], 1e-9)
    time_ratio = eager["time_s"] / ours["time_s"]
    print(
        f"\nQwen2-VL architecture, random weights: {ours['layers']} layers x {ours['heads']} heads, "
        f"hidden {args.hidden}, sequence {ours['seq_len']} tokens ({ours['visual_tokens']} visual), "
        f"{ours['rows']} rows captured in every layer, {os.cpu_count()} CPU threads\n"
    )
    print(f"{'variant':<34}{'peak MiB':>10}{'time s':>9}")
    print(f"{'sdpa forward, nothing captured':<34}{sdpa['peak_mib']:>10.1f}{sdpa['time_s']:>9.3f}")
    print(f"{'row capture (sdpa + rows)':<34}{ours['peak_mib']:>10.1f}{ours['time_s']:>9.3f}")
    print(f"{'eager output_attentions=True':<34}{eager['peak_mib']:>10.1f}{eager['time_s']:>9.3f}")
    print(f"{'ratio eager / ours':<34}{memory_ratio:>10.1f}{time_ratio:>9.2f}")
    print(f"\nmax |ours - eager| over the captured rows: {diff:.2e}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "attention.json"
    path.write_text(
        json.dumps(
            {
                "benchmark": "attention",
                "tubescope": __version__,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpu_count": os.cpu_count(),
                "config": vars(args) | {"worker": None},
                "results": {"sdpa": sdpa, "ours": ours, "eager": eager},
                "memory_ratio_eager_over_ours": memory_ratio,
                "time_ratio_eager_over_ours": time_ratio,
                "max_abs_diff": diff,
            },
            indent=2,
        )
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
