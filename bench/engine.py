"""Benchmark: end-to-end seconds per query, tubescope's engine vs the official code's way.

Both ground the same queries on the same synthetic clip with the same small random-weight
Qwen2-VL model and the same configuration (LRA on the attribute and action questions, TAS,
relative attention over all layers, the adaptive grounding token):

* **ours** — ``Grounder.ground_many``: the vision tower runs once per video; one prefill
  forward per question (no ``generate``), the video prefix shared between the questions of a
  step; attention captured only for the candidate rows; the unprompted caption pass reused.
* **naive** — written here the way the official code works (research/method.md §6, §9, §17):
  every question re-runs the vision tower, runs eager attention with
  ``output_attentions=True`` (all layers x heads x N x N) and then 4 more decoding steps, as
  ``generate(max_new_tokens=5)`` does; LRA backpropagates through that graph.

Both pick tracks and spans with the same selection code, so the script also checks that they
agree. Prints a table (seconds per query, speed-up, pass counts) and writes
``bench/results/engine.json``. The vision tower of the random model is tiny (2 blocks), so the
naive pipeline's repeated vision encodes cost less here than with a real 7B model's ViT: the
ratio is a lower bound.

    python bench/engine.py [--layers 8] [--hidden 256] [--frames 8] [--queries 2] [--steps 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tubescope._version import __version__
from tubescope.decompose import RuleDecomposer, resolve_parts
from tubescope.engine.backends import load_backend
from tubescope.engine.backends.base import unreverse_grid
from tubescope.engine.config import GrounderConfig
from tubescope.engine.lra import yes_no_margin
from tubescope.engine.relative import choose_token, relative_attention
from tubescope.engine.geometry import GridGeometry
from tubescope.engine.spatial import score_tracks, track_coverage
from tubescope.engine.temporal import frame_scores, select_span, span_to_frames
from tubescope.grounder import Grounder
from tubescope.synthetic import make_clip
from tubescope.testing import save_tiny_model
from tubescope.video import Video

RESULTS = Path(__file__).parent / "results"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class NaivePipeline:
    """The official code's passes: vision tower per question, eager attentions, generate(5)."""

    def __init__(self, backend, config: GrounderConfig) -> None:
        self.backend = backend
        self.config = config
        self.model = backend.model
        self.model.set_attn_implementation("eager")
        self.counts = {"vision_encodes": 0, "forward_passes": 0, "backward_passes": 0, "decode_steps": 0}

    def _pass(self, frames, question, prompt, reverse):
        backend = self.backend
        visual = backend.encode(frames)  # the vision tower, again
        self.counts["vision_encodes"] += 1
        if reverse:
            visual = visual.reversed_frames()
        spec = backend.prompt(question, visual)
        ids = spec.input_ids.to(backend.device)
        embed = self.model.get_input_embeddings()
        inputs = embed(ids)[None].clone()
        vis = visual.embeds if prompt is None else visual.embeds + prompt
        inputs[0, list(spec.visual_index)] = vis.to(inputs.dtype)
        positions = backend._position_ids(ids, visual)
        out = self.model(inputs_embeds=inputs, position_ids=positions, output_attentions=True, use_cache=True)
        self.counts["forward_passes"] += 1
        logits = out.logits[0, -1].float()
        attentions = out.attentions
        cache, token, last = out.past_key_values, logits.argmax(), positions.max()
        for step in range(4):  # the rest of generate(max_new_tokens=5), also with attentions
            position = (last + 1 + step).reshape(1, 1, 1).expand(positions.shape[0], 1, 1)
            step_out = self.model(inputs_embeds=embed(token.reshape(1, 1)), position_ids=position,
                                  past_key_values=cache, output_attentions=True, use_cache=True)
            cache, token = step_out.past_key_values, step_out.logits[0, -1].argmax()
            self.counts["decode_steps"] += 1
        rows = list(spec.candidates)
        columns = torch.tensor(spec.visual_index, device=logits.device)
        stacked = torch.stack([a[0][:, rows][:, :, columns] for a in attentions])  # (L, H, R, N)
        return logits, stacked.mean(dim=(0, 1)).float().detach(), spec

    def _learn(self, frames, question, reverse):
        cfg = self.config
        shape = self.backend.encode(frames).embeds.shape
        current = torch.zeros(shape, requires_grad=True)
        ema = torch.zeros(shape)
        for _ in range(cfg.lra_steps):
            margins = []
            for q in (cfg.caption_prompt, question):
                logits, _, _ = self._pass(frames, q, current, reverse)
                margins.append(yes_no_margin(logits, self.backend.yes_ids, self.backend.no_ids))
            loss = 1 - margins[1] + margins[0]
            (grad,) = torch.autograd.grad(loss, current)
            self.counts["backward_passes"] += 1
            with torch.no_grad():
                current = (current - cfg.lra_lr * grad).detach().requires_grad_(True)
                ema = cfg.lra_beta * current.detach() + (1 - cfg.lra_beta) * ema
        return ema

    def _map(self, frames, question, reverse, index=None):
        prompt = self._learn(frames, question, reverse) if self.config.lra_steps else None
        with torch.no_grad():
            _, att_q, spec = self._pass(frames, question, prompt, reverse)
            _, att_c, _ = self._pass(frames, self.config.caption_prompt, prompt, reverse)
        layout = self.backend.encode(frames).layout
        self.counts["vision_encodes"] += 1
        grid = layout.to_grid(relative_attention(att_q, att_c, self.config.eps))
        if reverse:
            grid = unreverse_grid(grid)
        chosen, choice = choose_token(grid, spec.candidate_tokens, self.config.token_rule, index)
        return chosen.numpy(), choice, layout

    def ground(self, video, frames, sampled, query, parts, tracks):
        cfg = self.config
        attr_q = cfg.question_template.format(parts.attribute.strip(". "))
        act_q = cfg.question_template.format(parts.action.strip(". "))
        spatial, choice, layout = self._map(frames, attr_q, False)
        reverse, _, _ = self._map(frames, attr_q, True, choice.index)
        temporal, _, _ = self._map(frames, act_q, False)
        spatial_frames = (spatial + reverse)[layout.group_of_frame]
        temporal_frames = temporal[layout.group_of_frame]
        coverages = [track_coverage(t, sampled, GridGeometry(layout.rows, layout.cols, video.width, video.height)) for t in tracks]
        best = int(np.argmax(score_tracks(spatial_frames, coverages)))
        raw = frame_scores(temporal_frames, coverages[best])
        first, last = select_span(raw / (raw.max() + 1e-4), cfg.temporal_strategy, cfg.temporal_k)
        return tracks[best].track_id, span_to_frames(sampled, first, last, cfg.span_mode, (0, video.frame_count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224, help="frame size fed to the model")
    parser.add_argument("--queries", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1, help="LRA steps")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)

    work = Path(tempfile.mkdtemp(prefix="tubescope-bench-"))
    clip = make_clip(work / "clip.mp4", width=320, height=240, num_frames=60, fps=30, num_shapes=3, seed=1)
    model_dir = save_tiny_model("qwen2-vl", work / "model", num_layers=args.layers, hidden_size=args.hidden,
                                num_heads=8, num_kv_heads=4)
    config = GrounderConfig(num_frames=args.frames, resolution=args.size, lra_steps=args.steps, tas=True,
                            temporal_k=3)
    tracks = [o.track for o in clip.objects]
    queries = [o.description for o in clip.objects][: args.queries]

    ours_backend = load_backend(model_dir, device="cpu", size=(args.size, args.size))
    grounder = Grounder(ours_backend, proposals=tracks, decomposer="rules", config=config)
    naive = NaivePipeline(load_backend(model_dir, device="cpu", size=(args.size, args.size)), config)
    video = Video(clip.path)
    sampled = video.sample(args.frames)
    decomposer = RuleDecomposer()

    def run_ours():
        return grounder.ground_many(clip.path, queries)

    def run_naive():
        frames = video.get_frames(sampled)  # decoding, as ours does inside ground_many
        from tubescope.grounder import _resize_square

        frames = _resize_square(frames, args.size)
        return [naive.ground(video, frames, sampled, q, resolve_parts(q, decomposer.decompose(q)), tracks)
                for q in queries]

    run_ours(), run_naive()  # warm-up
    ours_times, naive_times = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = run_ours()
        ours_times.append(time.perf_counter() - start)
        naive.counts = dict.fromkeys(naive.counts, 0)
        start = time.perf_counter()
        naive_out = run_naive()
        naive_times.append(time.perf_counter() - start)
    ours_s = statistics.median(ours_times) / len(queries)
    naive_s = statistics.median(naive_times) / len(queries)
    ours_counts = {k: sum(r.stats.get(k, 0) for r in ours) for k in ("vision_encodes", "forward_passes", "backward_passes")}
    ours_counts["vision_encodes"] = ours[0].stats["vision_encodes"]
    agree = [(r.track_id, r.tube.span) == n for r, n in zip(ours, naive_out)]

    print(f"\nper query, {len(queries)} queries, Qwen2-VL random model ({args.layers} layers, hidden {args.hidden}), "
          f"{args.frames} frames at {args.size}px, LRA steps {args.steps}, TAS on (median of {args.repeats})")
    print(f"{'pipeline':<10}{'s/query':>10}{'speed-up':>10}{'vision encodes':>16}{'forwards':>10}{'backwards':>11}")
    print(f"{'naive':<10}{naive_s:>10.3f}{1.0:>9.2f}x{naive.counts['vision_encodes']:>16}"
          f"{naive.counts['forward_passes']:>10}{naive.counts['backward_passes']:>11}")
    print(f"{'ours':<10}{ours_s:>10.3f}{naive_s / ours_s:>9.2f}x{int(ours_counts['vision_encodes']):>16}"
          f"{int(ours_counts['forward_passes']):>10}{int(ours_counts['backward_passes']):>11}")
    print(f"(naive also ran {naive.counts['decode_steps']} wasted decoding steps; "
          f"same track and span as ours: {sum(agree)}/{len(agree)})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "engine.json"
    out.write_text(json.dumps({
        "benchmark": "engine",
        "setup": vars(args),
        "seconds_per_query": {"ours": ours_s, "naive": naive_s},
        "speedup": naive_s / ours_s,
        "passes": {"ours": ours_counts, "naive": naive.counts},
        "same_decisions": agree,
        "tubescope": __version__,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine()},
    }, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
