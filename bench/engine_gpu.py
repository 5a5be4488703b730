"""GPU timing: seconds per query of the ``paper`` preset on a 7B-sized random-weight Qwen2-VL.

Run on a CUDA machine (no weights needed: the model is built from Qwen2-VL-7B's architecture
with random weights, bf16; it needs about 17 GB of GPU memory)::

    python bench/engine_gpu.py [--frames 20] [--queries 3]

It grounds queries on a synthetic clip with the ``paper`` preset (20 frames at 224 px, each
frame its own temporal patch, layers 2..21 of 28, fixed grounding token, LRA 2 steps, TAS) and
with LRA off (the setting of the paper's ~3.1 s per video on an A100, App. 8.4), and prints
seconds per query and the pass counts. Writes ``bench/results/engine_gpu.json``. Random
weights give meaningless groundings; the timing is what matters (same shapes, same passes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from tubescope._version import __version__
from tubescope.engine.backends.pixels import PreprocessorConfig
from tubescope.engine.backends.qwen2_vl import Qwen2VLBackend
from tubescope.engine.config import preset
from tubescope.grounder import Grounder
from tubescope.synthetic import make_clip
from tubescope.testing import tiny_tokenizer

RESULTS = Path(__file__).parent / "results"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def build_7b(device: torch.device, shrink: bool = False) -> Qwen2VLBackend:
    """Qwen2-VL-7B's architecture (28 layers, hidden 3584, ViT depth 32) with random weights.

    ``shrink`` builds the same structure at a toy size (a CPU check of this script).
    """
    import transformers

    tokenizer = tiny_tokenizer("qwen2-vl")
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in
           ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|endoftext|>", "<|im_end|>")}
    text = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    vision = dict(depth=32, embed_dim=1280, hidden_size=3584, num_heads=16, mlp_ratio=4, patch_size=14,
                  temporal_patch_size=2, spatial_merge_size=2, in_channels=3)
    if shrink:
        text.update(hidden_size=224, intermediate_size=448, num_hidden_layers=4, num_attention_heads=7,
                     num_key_value_heads=1, rope_parameters={**text["rope_parameters"], "mrope_section": [4, 6, 6]})
        vision.update(depth=2, embed_dim=64, hidden_size=224, num_heads=2)
    config = transformers.Qwen2VLConfig(text_config=text, vision_config=vision,
                                        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                                        vision_start_token_id=ids["<|vision_start|>"],
                                        vision_end_token_id=ids["<|vision_end|>"])
    with torch.device(device):
        model = transformers.Qwen2VLForConditionalGeneration._from_config(
            config, attn_implementation="sdpa", dtype=torch.float32 if shrink else torch.bfloat16)
    pre = PreprocessorConfig.from_dict({"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14,
                                        "temporal_patch_size": 2, "merge_size": 2})
    return Qwen2VLBackend(model, tokenizer, pre, "random Qwen2-VL-7B", duplicate_frames=True, size=(224, 224))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cpu-check", action="store_true", help="run a toy-size model on the CPU (checks the script)")
    args = parser.parse_args()
    if not args.cpu_check and not torch.cuda.is_available():
        raise SystemExit("bench/engine_gpu.py needs a CUDA GPU (use bench/engine.py on a CPU, or --cpu-check)")
    device = torch.device("cpu" if args.cpu_check else "cuda")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    backend = build_7b(device, shrink=args.cpu_check)
    work = Path(tempfile.mkdtemp(prefix="tubescope-gpu-"))
    clip = make_clip(work / "clip.mp4", width=640, height=360, num_frames=600, fps=30, num_shapes=4, seed=2)
    tracks = [o.track for o in clip.objects]
    queries = [o.description for o in clip.objects][: args.queries]
    rows = {}
    for label, changes in (("paper preset", {}), ("paper preset, no LRA", {"lra_steps": 0})):
        config = preset("paper", "qwen2-vl", dataset="hcstvg-v2").replace(num_frames=args.frames, **changes)
        grounder = Grounder(backend, proposals=tracks, decomposer="rules", config=config)
        grounder.ground_many(clip.path, queries[:1])  # warm-up (kernels, allocator)
        times = []
        for _ in range(args.repeats):
            sync()
            start = time.perf_counter()
            results = grounder.ground_many(clip.path, queries)
            sync()
            times.append((time.perf_counter() - start) / len(queries))
        rows[label] = {
            "seconds_per_query": statistics.median(times),
            "forward_passes": sum(r.stats["forward_passes"] for r in results) / len(results),
            "backward_passes": sum(r.stats["backward_passes"] for r in results) / len(results),
            "vision_encodes_per_video": results[0].stats["vision_encodes"],
            "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0,
        }
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "CPU check (toy size)"
    print(f"\nrandom Qwen2-VL-7B, bf16, {gpu}, {args.frames} frames, {len(queries)} queries")
    print(f"{'setting':<24}{'s/query':>9}{'forwards':>10}{'backwards':>11}{'peak GiB':>10}")
    for label, row in rows.items():
        print(f"{label:<24}{row['seconds_per_query']:>9.2f}{row['forward_passes']:>10.0f}"
              f"{row['backward_passes']:>11.0f}{row['peak_gpu_gib']:>10.1f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("engine_gpu_cpucheck.json" if args.cpu_check else "engine_gpu.json")
    out.write_text(json.dumps({"benchmark": "engine_gpu", "gpu": gpu, "rows": rows,
                               "frames": args.frames, "queries": len(queries), "tubescope": __version__,
                               "torch": torch.__version__}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
