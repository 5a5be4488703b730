"""Train a tiny Qwen2-VL-architecture model from scratch on synthetic moving-shape clips.

The model only ever learns to answer the grounding engine's own yes/no questions about what it
sees ("Is there the red shape in this video?", "Is there The circle is moving up in this
video?"): the cross-entropy of the single answer token after the prompt the Qwen2-VL backend
builds (``backend.prompt``, so the token sequence is the engine's, byte for byte), with the
frames preprocessed by the backend's own ``pixel_values`` and the positions of its own M-RoPE
``_position_ids``. Attention is never supervised: whether the grounding token's attention finds
the asked-about shape is measured, every ``--eval-every`` steps, by running
:class:`tubescope.Grounder` (``default`` preset, the true tracks as proposals, rule
decomposition) on held-out clips and counting how often it picks the described track.

Data (:func:`make_samples`, deterministic in ``(seed, index)``): 1-3 shapes of
:func:`tubescope.synthetic.random_shapes` (distinct colours, random kinds, sizes, straight-line
motion, appear/disappear spans) on clips of a few sizes; the frames are the ones the engine
samples (``uniform_indices``). Each clip is asked ``--questions`` questions whose answers
alternate between "yes" and "no" (they share one vision-tower run); the negatives are hard ones
(a colour that is absent, the right colour with the wrong kind, the right shape with the wrong
motion). A smooth curriculum (``--curriculum`` steps) shrinks the shapes from 2.5x to the test
sizes and grows the count from 1 to 3, and ``--easy`` of every batch stays one big shape;
``--scale S --shapes N`` trains at one fixed difficulty instead. ``--init DIR`` continues from a
checkpoint.

Run (about 0.8 s per step of batch 32 on one CPU thread here, 25 minutes for 1,800 steps with
the held-out evaluations; minutes on a GPU)::

    python scripts/train_tiny_grounder.py --steps 1800 --out /tmp/runs/tiny --threads 1
    python scripts/train_tiny_grounder.py --steps 6000 --batch 64 --device cuda --out /tmp/runs/gpu

The output directory holds ``checkpoint/`` (a ``save_pretrained`` directory that
``tubescope.engine.backends.load_backend`` and ``Grounder`` load), ``log.jsonl`` (loss, held-out
yes/no accuracy and chosen-track accuracy over the steps) and ``config.json`` (the flags).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.synthetic import KINDS, PALETTE, ShapeSpec, random_shapes, render_frames
from tubescope.video import uniform_indices

__all__ = [
    "Sample",
    "make_samples",
    "TrainConfig",
    "make_sample",
    "attribute_queries",
    "engine_question",
    "build_model",
    "Batcher",
    "train",
    "evaluate_yes_no",
    "evaluate_tracks",
    "held_out_clip",
]

COLOURS = tuple(PALETTE)
MOTIONS = ("moving to the right", "moving to the left", "moving down", "moving up", "standing still")
#: clip sizes (width, height) drawn for training: square and 4:3 frames the backend resizes.
SIZES = ((112, 112), (160, 120), (128, 128), (224, 168))
#: index ranges of the seeded streams: training samples never reuse a held-out seed.
HELD_OUT_BASE = 10_000_000


@dataclass(frozen=True)
class Sample:
    """One training / held-out example: the sampled frames, the question asked and the answer."""

    frames: np.ndarray  # (F, H, W, 3) uint8: the frames the engine would sample
    indices: np.ndarray  # their frame numbers in the clip
    query: str  # the referring text ("the red shape", "the red circle moving up")
    question: str  # exactly what the engine asks for it (template applied; the action part for "action")
    answer: bool
    kind: str  # "shape", "kind", "description" or "action"
    shapes: tuple[ShapeSpec, ...]
    num_frames: int  # clip length
    clip: int = 0  # the clip's index in its stream: samples of one clip share its frames


def _motion(spec: ShapeSpec) -> str:
    return spec.description[len(f"the {spec.name} "):]


def engine_question(text: str, template: str = "Is there {} in this video?") -> str:
    """The question the engine asks for a sub-query (``Engine.ground``: the template applied to
    ``text.strip('.').strip()``)."""
    return template.format(text.strip(".").strip())


def _visible(spec: ShapeSpec, indices: Sequence[int], width: int, height: int) -> bool:
    return any(spec.box_at(int(i), width, height) is not None for i in indices)


def _action_part(description: str) -> str:
    """The action sub-query the rule decomposer makes of a description."""
    from tubescope.decompose.rules import RuleDecomposer

    parts = RuleDecomposer().decompose(description)
    return parts.action or description


def make_samples(
    seed: int,
    index: int,
    count: int = 1,
    *,
    num_shapes: int | None = None,
    max_shapes: int = 3,
    min_shapes: int = 1,
    sample_frames: int = 8,
    kinds_weights: Sequence[float] = (0.35, 0.35, 0.15, 0.15),
    positive: bool | None = None,
    size_scale: float = 1.0,
) -> list[Sample]:
    """``count`` questions about clip ``index`` of the stream ``seed`` (the same arguments always
    give the same samples).

    The question kind is ``"shape"`` ("the red shape"), ``"kind"`` ("the red circle"),
    ``"description"`` ("the red circle moving up") or ``"action"`` (the rule decomposer's action
    of a description: "The circle is moving up."), drawn with ``kinds_weights``; the answers
    alternate between "yes" and "no" from a random first one (or are all ``positive``), judged
    on the sampled frames only. ``size_scale`` > 1 draws bigger shapes (the curriculum).
    """
    rng = np.random.default_rng([seed, index])
    shapes_count = int(num_shapes if num_shapes is not None else rng.integers(min_shapes, max_shapes + 1))
    width, height = SIZES[int(rng.integers(len(SIZES)))]
    length = int(rng.integers(16, 49))
    sizes = {}
    if size_scale != 1.0:
        short = min(width, height - 12)
        sizes = {"min_size": max(8, int(short / 8 * size_scale)), "max_size": max(10, int(short / 3 * size_scale))}
    shapes = random_shapes(shapes_count, width, height, length, seed=int(rng.integers(2**31)), **sizes)
    if rng.random() < 0.15:  # some shapes stand still
        k = int(rng.integers(shapes_count))
        s = shapes[k]
        shapes[k] = ShapeSpec(s.color, s.kind, s.size, s.start, s.start, s.appear, s.disappear)
    indices = uniform_indices(sample_frames, 0, length)
    visible = [s for s in shapes if _visible(s, indices, width, height)]
    frames = np.stack(list(render_frames(shapes, width, height, length, barcode=bool(rng.random() < 0.5),
                                         background_seed=int(rng.integers(2**31)))))[indices]
    first_yes = int(rng.integers(2))
    weights = np.asarray(kinds_weights, dtype=np.float64) / sum(kinds_weights)
    out = []
    for j in range(count):
        qrng = np.random.default_rng([seed, index, j + 1])
        kind = str(qrng.choice(("shape", "kind", "description", "action"), p=weights))
        if positive is not None:
            yes = positive
        elif count == 1:
            yes = bool(qrng.random() < 0.5)
        else:
            yes = (j + first_yes) % 2 == 0
        yes = yes and bool(visible)
        text = _question_text(qrng, kind, yes, visible)
        if text is None:  # no such negative exists here: ask a colour that is absent
            kind, text = "shape", _question_text(qrng, "shape", False, visible)
        answer = _answer(kind, text, visible)
        question = engine_question(_action_part(text) if kind == "action" else text)
        out.append(Sample(frames, indices, text, question, answer, kind, tuple(shapes), length, index))
    return out


def make_sample(seed: int, index: int, **kwargs: Any) -> Sample:
    """One question about clip ``index`` of the stream ``seed`` (:func:`make_samples`)."""
    return make_samples(seed, index, 1, **kwargs)[0]


def _question_text(rng: np.random.Generator, kind: str, yes: bool, visible: list[ShapeSpec]) -> str | None:
    present = {s.color: s for s in visible}
    if yes:
        s = visible[int(rng.integers(len(visible)))]
        return {"shape": f"the {s.color} shape", "kind": f"the {s.name}"}.get(kind, s.description)
    absent = [c for c in COLOURS if c not in present]
    options: list[str] = []
    if kind == "shape":
        options = [f"the {c} shape" for c in absent]
    elif kind == "kind":
        hard = [f"the {s.color} {k}" for s in visible for k in KINDS if k != s.kind]
        options = hard if hard and rng.random() < 0.6 else [f"the {c} {rng.choice(KINDS)}" for c in absent]
    elif kind == "description":
        hard = [f"the {s.name} {m}" for s in visible for m in MOTIONS if m != _motion(s)]
        hard += [f"the {s.color} {k} {_motion(s)}" for s in visible for k in KINDS if k != s.kind]
        options = hard if hard and rng.random() < 0.7 else [
            f"the {c} {rng.choice(KINDS)} {rng.choice(MOTIONS)}" for c in absent
        ]
    else:  # action: a kind doing a motion that no visible shape of that kind does
        done = {(s.kind, _motion(s)) for s in visible}
        pairs = [(k, m) for k in KINDS for m in MOTIONS if (k, m) not in done]
        near = [(k, m) for k, m in pairs if any(s.kind == k for s in visible)]
        pool = near if near and rng.random() < 0.7 else pairs
        k, m = pool[int(rng.integers(len(pool)))]
        options = [f"the {rng.choice(absent or COLOURS)} {k} {m}"]
    if not options:
        return None
    return str(options[int(rng.integers(len(options)))])


def _answer(kind: str, text: str, visible: list[ShapeSpec]) -> bool:
    """Whether the sampled frames show what ``text`` asks for (recomputed, not trusted)."""
    words = text.split()
    if kind == "action":
        k, m = words[2], " ".join(words[3:])
        return any(s.kind == k and _motion(s) == m for s in visible)
    colour = words[1]
    for s in visible:
        if s.color != colour:
            continue
        if kind == "shape":
            return True
        if s.kind != words[2]:
            return False
        return kind == "kind" or _motion(s) == " ".join(words[3:])
    return False


def attribute_queries(shapes: Sequence[ShapeSpec], rng: np.random.Generator) -> list[tuple[str, int]]:
    """One attribute query per shape ("the red shape" or "the red circle") and its track id."""
    out = []
    for track_id, s in enumerate(shapes):
        text = f"the {s.color} shape" if rng.random() < 0.5 else f"the {s.name}"
        out.append((text, track_id))
    return out


def held_out_clip(index: int, *, num_shapes: int | None = None, length: int = 32, seed: int = 0,
                  size_scale: float = 1.0) -> tuple[Any, np.ndarray]:
    """A held-out synthetic clip (2 or 3 shapes, seeds never used in training) and its frames;
    ``size_scale`` > 1 draws bigger shapes, as :func:`make_samples` does."""
    from tubescope.synthetic import make_clip

    rng = np.random.default_rng([HELD_OUT_BASE + seed, index])
    count = int(num_shapes or rng.integers(2, 4))
    width, height = SIZES[int(rng.integers(len(SIZES)))]
    clip_seed = int(rng.integers(2**31))
    shapes = None
    if size_scale != 1.0:
        short = min(width, height - 12)
        shapes = random_shapes(count, width, height, length, seed=clip_seed,
                               min_size=max(8, int(short / 8 * size_scale)), max_size=max(10, int(short / 3 * size_scale)))
    clip = make_clip(None, width=width, height=height, num_frames=length, num_shapes=count, seed=clip_seed,
                     shapes=shapes)
    return clip, clip.to_array()


# ---------------------------------------------------------------------------------- model


@dataclass
class TrainConfig:
    """The flags of a run (``config.json`` of the output directory)."""

    steps: int = 1500
    batch: int = 24
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.01
    seed: int = 0
    layers: int = 3
    hidden: int = 128
    heads: int = 4
    kv_heads: int = 2
    vision_depth: int = 2
    vision_dim: int = 64
    vision_heads: int = 2
    max_cells: int = 16  # token cells per frame (28 x 28 px each): 112 x 112 px
    frames: int = 8
    questions: int = 4  # questions per clip in a batch (they share its vision-tower run)
    init: str = ""  # start from this checkpoint's weights instead of random ones
    curriculum: int = 1200  # steps over which sizes shrink to the test sizes and shapes grow to 3
    easy: float = 0.25  # fraction of every batch kept easy: one big shape, colour questions
    scale: float = 0.0  # > 0: no curriculum; shapes this much bigger than at test time throughout
    shapes: int = 0  # with scale: this many shapes in every clip (and in the held-out clips)
    kinds: str = "0.4,0.4,0.1,0.1"  # weights of the shape/kind/description/action questions
    eval_every: int = 250
    eval_clips: int = 40
    eval_yes_no: int = 192
    threads: int = 1
    device: str = "cpu"
    out: str = "/tmp/runs/tiny"


def build_model(directory: str | os.PathLike[str], cfg: TrainConfig) -> Path:
    """Write the initial (random) checkpoint of ``cfg``'s architecture to ``directory``.

    ``tubescope.testing.save_tiny_model`` writes the Qwen2-VL files (tokenizer, chat template,
    preprocessor); the vision tower's width and depth and the pixel budget are then set from
    ``cfg`` and the weights re-initialised from ``cfg.seed``.
    """
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from tubescope.testing import save_tiny_model

    path = save_tiny_model("qwen2-vl", directory, seed=cfg.seed, num_layers=cfg.layers, hidden_size=cfg.hidden,
                           num_heads=cfg.heads, num_kv_heads=cfg.kv_heads)
    config = json.loads((path / "config.json").read_text())
    config["vision_config"].update(depth=cfg.vision_depth, embed_dim=cfg.vision_dim, num_heads=cfg.vision_heads,
                                   mlp_ratio=2)
    for stale in ("architectures", "transformers_version", "dtype", "torch_dtype"):
        config.pop(stale, None)
    torch.manual_seed(cfg.seed)
    model = Qwen2VLForConditionalGeneration._from_config(Qwen2VLConfig(**config), attn_implementation="sdpa",
                                                         dtype=torch.float32)
    for name in ("model.safetensors",):
        (path / name).unlink(missing_ok=True)
    model.save_pretrained(path)
    budget = {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * cfg.max_cells}
    for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
        data = json.loads((path / name).read_text())
        data.update(budget)
        (path / name).write_text(json.dumps(data, indent=2))
    return path


class Batcher:
    """Turns samples into model inputs exactly as the engine's backend does.

    ``helper`` is a backend loaded from the run's checkpoint directory; only its preprocessing
    (``pixel_values``), prompt building (``prompt``) and M-RoPE positions (``_position_ids``)
    are used, never its weights.
    """

    def __init__(self, helper: Any, device: Any) -> None:
        self.helper = helper
        self.device = device
        self.yes = int(helper.yes_ids[0])
        self.no = int(helper.no_ids[0])
        self.pad = int(helper.tokenizer.pad_token_id)

    def encode_sample(self, sample: Sample) -> dict[str, Any]:
        import torch

        from tubescope.engine.backends.base import TokenLayout, VisualTokens

        h = self.helper
        patches, (gt, gh, gw), per_group = h.pixel_values(sample.frames)
        m = h.merge_size
        layout = TokenLayout.regular(len(sample.frames), gt, gh // m, gw // m,
                                     group_of_frame=np.arange(len(sample.frames)) // per_group)
        grid = torch.tensor([[gt, gh, gw]], dtype=torch.long)
        visual = VisualTokens(torch.zeros(layout.num_tokens, 1), layout, sample.indices,
                              extra={"video_grid_thw": grid})
        prompt = h.prompt(sample.question, visual)
        positions = h._position_ids(prompt.input_ids, visual)  # (3, 1, L)
        return {
            "clip": (id(sample.frames), sample.clip),
            "patches": torch.from_numpy(patches),
            "grid": grid[0],
            "ids": prompt.input_ids,
            "positions": positions[:, 0],
            "start": prompt.visual_start,
            "num_visual": prompt.num_visual,
            "target": self.yes if sample.answer else self.no,
        }

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Right-padded batch: the causal mask keeps padding out of every real position."""
        import torch

        length = max(len(it["ids"]) for it in items)
        ids = torch.full((len(items), length), self.pad, dtype=torch.long)
        pos = torch.zeros((3, len(items), length), dtype=torch.long)
        for i, it in enumerate(items):
            n = len(it["ids"])
            ids[i, :n] = it["ids"]
            pos[:, i, :n] = it["positions"]
            pos[:, i, n:] = it["positions"][:, -1:] + torch.arange(1, length - n + 1)
        clips: dict[Any, int] = {}
        for it in items:  # questions about one clip share its vision-tower run
            clips.setdefault(it["clip"], len(clips))
        first = {key: next(it for it in items if it["clip"] == key) for key in clips}
        return {
            "patches": torch.cat([first[k]["patches"] for k in clips]).to(self.device),
            "grids": torch.stack([first[k]["grid"] for k in clips]).to(self.device),
            "clip_of": [clips[it["clip"]] for it in items],
            "ids": ids.to(self.device),
            "positions": pos.to(self.device),
            "starts": [it["start"] for it in items],
            "num_visual": [it["num_visual"] for it in items],
            "last": torch.tensor([len(it["ids"]) - 1 for it in items], device=self.device),
            "targets": torch.tensor([it["target"] for it in items], device=self.device),
        }


def forward(model: Any, batch: dict[str, Any]) -> Any:
    """Last-position logits ``(B, vocab)`` of a collated batch."""
    import torch

    features = model.model.get_video_features(
        pixel_values_videos=batch["patches"], video_grid_thw=batch["grids"]
    ).pooler_output
    text = model.get_input_embeddings()(batch["ids"])
    rows = []
    for i, (start, n) in enumerate(zip(batch["starts"], batch["num_visual"], strict=True)):
        seen = features[batch["clip_of"][i]].to(text.dtype)
        rows.append(torch.cat([text[i, :start], seen, text[i, start + n:]]))
    embeds = torch.stack(rows)
    out = model.model.language_model(inputs_embeds=embeds, position_ids=batch["positions"], use_cache=False)
    hidden = out.last_hidden_state[torch.arange(len(rows), device=embeds.device), batch["last"]]
    return model.lm_head(hidden)


def evaluate_yes_no(model: Any, batcher: Batcher, samples: Sequence[Sample], batch: int = 48) -> dict[str, float]:
    """Held-out yes/no accuracy (margin ``logit(yes) - logit(no)`` > 0 means "yes"), overall and
    per question kind."""
    import torch

    model.eval()
    right: dict[str, list[bool]] = {}
    with torch.no_grad():
        for at in range(0, len(samples), batch):
            chunk = samples[at:at + batch]
            logits = forward(model, batcher.collate([batcher.encode_sample(s) for s in chunk]))
            said = (logits[:, batcher.yes] > logits[:, batcher.no]).tolist()
            for s, yes in zip(chunk, said, strict=True):
                right.setdefault(s.kind, []).append(bool(yes) == s.answer)
    model.train()
    every = [v for vs in right.values() for v in vs]
    return {"yes_no": float(np.mean(every)), **{f"yes_no_{k}": float(np.mean(v)) for k, v in sorted(right.items())}}


def evaluate_tracks(checkpoint: str | os.PathLike[str], clips: int = 40, *, frames: int = 8,
                    config: Any = None, seed: int = 0, num_shapes: int | None = None,
                    size_scale: float = 1.0) -> dict[str, float]:
    """Chosen-track accuracy of ``Grounder`` (``default`` preset with ``frames`` sampled frames
    unless ``config`` is given; true tracks as proposals; rule decomposition) on ``clips``
    held-out clips of 2-3 shapes, one attribute query per shape."""
    from tubescope.engine.backends import load_backend
    from tubescope.engine.config import preset
    from tubescope.grounder import Grounder

    backend = load_backend(checkpoint, device="cpu")
    cfg = config or preset("default").replace(num_frames=frames)
    grounder = Grounder(backend, decomposer="rules", config=cfg)
    hits, chance = [], []
    rng = np.random.default_rng([HELD_OUT_BASE + 1, seed])
    for i in range(clips):
        clip, array = held_out_clip(i, seed=seed, num_shapes=num_shapes, size_scale=size_scale)
        tracks = [o.track for o in clip.objects]
        queries = attribute_queries([o.spec for o in clip.objects], rng)
        results = grounder.ground_many(array, [q for q, _ in queries], tracks=tracks)
        for (_, target), result in zip(queries, results, strict=True):
            hits.append(result.track_id == target)
            chance.append(1.0 / len(tracks))
    return {"track_acc": float(np.mean(hits)), "track_chance": float(np.mean(chance)), "track_queries": len(hits)}


def save_checkpoint(model: Any, init_dir: Path, out_dir: Path) -> Path:
    """``save_pretrained`` of the weights plus the tokenizer and preprocessor files of ``init_dir``."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(init_dir, tmp, ignore=shutil.ignore_patterns("*.safetensors"))
    model.save_pretrained(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def train(cfg: TrainConfig, *, log: Any = print) -> dict[str, Any]:
    """Run training; returns the final metrics. Writes ``cfg.out``/checkpoint and log.jsonl."""
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    from tubescope.engine.backends import load_backend

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.__dict__, indent=2))
    init_dir = build_model(out / "init", cfg)
    device = torch.device(cfg.device)
    helper = load_backend(init_dir, device="cpu")
    batcher = Batcher(helper, device)
    model = Qwen2VLForConditionalGeneration.from_pretrained(cfg.init or init_dir, attn_implementation="sdpa",
                                                            dtype=torch.float32).to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))

    held_kw = {"num_shapes": cfg.shapes or None, "size_scale": cfg.scale or 1.0,
               "kinds_weights": tuple(float(w) for w in cfg.kinds.split(","))} if cfg.scale else {}
    held = [make_sample(HELD_OUT_BASE + cfg.seed, i, min_shapes=1, max_shapes=3, sample_frames=cfg.frames, **held_kw)
            for i in range(cfg.eval_yes_no)]
    n_params = sum(p.numel() for p in model.parameters())
    log(f"parameters {n_params:,}; visual tokens per clip {batcher.encode_sample(held[0])['num_visual']}")
    started = time.time()
    losses: list[float] = []
    history: list[dict[str, Any]] = []
    logfile = open(out / "log.jsonl", "a", encoding="utf-8")

    def evaluate(step: int) -> dict[str, Any]:
        ckpt = save_checkpoint(model, init_dir, out / "checkpoint")
        row: dict[str, Any] = {"step": step, "minutes": round((time.time() - started) / 60, 2),
                               "loss": float(np.mean(losses[-50:])) if losses else None}
        row.update(evaluate_yes_no(model, batcher, held))
        if cfg.eval_clips:
            row.update(evaluate_tracks(ckpt, cfg.eval_clips, frames=cfg.frames,
                                       num_shapes=cfg.shapes if cfg.shapes >= 2 else None, size_scale=cfg.scale or 1.0))
        logfile.write(json.dumps(row) + "\n")
        logfile.flush()
        history.append(row)
        log(json.dumps(row))
        return row

    kinds = tuple(float(w) for w in cfg.kinds.split(","))

    def curriculum_phase(step: int, length: int) -> dict[str, Any]:
        """A smooth curriculum over ``length`` steps: shape sizes shrink from 2.5x to the test
        sizes, the shape count grows from 1 to 3, questions go from colours to every kind."""
        t = min(1.0, step / max(1, length))
        scale = 2.5 - 1.5 * t
        shapes = 1 if t < 0.25 else (2 if t < 0.5 else 3)
        if t < 0.25:
            weights: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0)
        elif t < 0.6:
            weights = (0.6, 0.4, 0.0, 0.0)
        else:
            weights = kinds
        return {"min_shapes": 1, "max_shapes": shapes, "size_scale": scale, "kinds_weights": weights}

    easy = {"min_shapes": 1, "max_shapes": 1, "size_scale": 2.0, "kinds_weights": (1.0, 0.0, 0.0, 0.0)}
    fixed = {"num_shapes": cfg.shapes or None, "size_scale": cfg.scale or 1.0, "kinds_weights": kinds}

    index = 0
    for step in range(cfg.steps):
        if cfg.eval_every and step % cfg.eval_every == 0 and step:
            evaluate(step)
        phase = curriculum_phase(step, cfg.curriculum) if not cfg.scale else fixed
        samples = []
        while len(samples) < cfg.batch:  # a quarter of every batch stays easy (one big shape)
            mix = easy if len(samples) < cfg.batch * cfg.easy else phase
            samples.extend(make_samples(cfg.seed, index, cfg.questions, sample_frames=cfg.frames, **mix))
            index += 1
        samples = samples[:cfg.batch]
        batch = batcher.collate([batcher.encode_sample(s) for s in samples])
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        logits = forward(model, batch)
        loss = torch.nn.functional.cross_entropy(logits, batch["targets"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if step % 25 == 0:
            log(f"step {step} loss {np.mean(losses[-25:]):.4f} lr {lr_at(step):.2e} "
                f"{(time.time() - started) / 60:.1f} min")
    final = evaluate(cfg.steps)
    logfile.close()
    return {"history": history, "final": final, "parameters": n_params, "minutes": (time.time() - started) / 60}


def main(argv: Sequence[str] | None = None) -> int:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in defaults.__dict__.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=type(value), default=value)
    args = parser.parse_args(argv)
    cfg = TrainConfig(**vars(args))
    result = train(cfg)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
