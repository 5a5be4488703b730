"""The grounding engine: DSTH with LRA and TAS over one encoded video.

For one query on a video whose sampled frames were encoded once (docs/method.md; README
"The method in brief"):

* **spatial** — learn a prompt for the attribute question (LRA), read the relative attention
  map of the grounding token, do the same on the frame-reversed tokens with their own prompt
  and add the un-flipped map (TAS); score every candidate track inside it; the best wins;
* **temporal** — learn a prompt for the action question, read its relative map, score each
  sampled frame inside the chosen track, and pick a span (only where the track exists, with
  ``span_inside_track``);
* the tube is the chosen track's boxes on every video frame of the span where it exists.

The vision tower never runs again after :meth:`Engine.encode`; passes with no visual prompt
(the caption question in particular) are computed once per token order and reused by every
branch and every query.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from tubescope.engine.backends.base import Backend, PrefillOutput, VisualTokens, unreverse_grid
from tubescope.engine.config import GrounderConfig, layer_window
from tubescope.engine.geometry import GridGeometry
from tubescope.engine.lra import LRAResult, learn_visual_prompt, yes_no_margin
from tubescope.engine.relative import TokenChoice, choose_token, relative_attention
from tubescope.engine.spatial import FrameShape, score_tracks, shape_coverage, track_shapes
from tubescope.engine.temporal import frame_scores, mask_max_scores, select_span, span_to_frames, track_run
from tubescope.types import SubQueries, Track

__all__ = ["Engine", "EncodedVideo", "BranchResult", "QueryOutcome"]


@dataclass
class EncodedVideo:
    """A video's sampled frames after the vision tower, plus what maps need to know about it."""

    visual: VisualTokens
    frame_indices: np.ndarray
    width: int
    height: int
    frame_count: int
    span: tuple[int, int] | None = None  # where the frames were sampled; None: the whole video
    reversed: VisualTokens | None = None
    caption_cache: dict[bool, PrefillOutput] = field(default_factory=dict)
    over_proposals: bool = False  # the frames were sampled over the proposal frames

    @property
    def geometry(self) -> GridGeometry:
        """Where the token grid's cells lie on the original frames."""
        layout = self.visual.layout
        return GridGeometry(layout.rows, layout.cols, self.width, self.height, self.visual.view)

    def tokens(self, reverse: bool) -> VisualTokens:
        if not reverse:
            return self.visual
        if self.reversed is None:
            self.reversed = self.visual.reversed_frames()
        return self.reversed


@dataclass
class BranchResult:
    """One relative map on the token grid, ``(groups, rows, cols)``, in video order."""

    grid: np.ndarray
    choice: TokenChoice
    margin: float
    lra: LRAResult | None


@dataclass
class QueryOutcome:
    """Everything the engine decided for one query (the Grounder turns it into a result)."""

    tracks: list[Track]
    track_index: int | None
    track_scores: np.ndarray
    frame_scores: np.ndarray
    span: tuple[int, int] | None
    sampled_span: tuple[int, int] | None  # inclusive positions into the sampled frames
    spatial: BranchResult
    spatial_reversed: BranchResult | None
    temporal: BranchResult
    confidence: float
    maps: dict[str, np.ndarray]


class Engine:
    """Runs the method on a backend with a configuration; counts every pass it makes."""

    def __init__(self, backend: Backend, config: GrounderConfig) -> None:
        self.backend = backend
        self.config = config
        self.layers = layer_window(config.layers, backend.num_layers)
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ encoding
    def encode(
        self,
        frames: np.ndarray,
        frame_indices: Sequence[int],
        *,
        width: int,
        height: int,
        frame_count: int,
        span: tuple[int, int] | None = None,
        timestamps: Sequence[float] | None = None,
    ) -> EncodedVideo:
        """Run the vision tower once on the sampled frames (sampled inside ``span``).

        ``timestamps`` (seconds of each sampled frame) reach backends whose ``encode`` takes a
        ``timestamps`` keyword (Qwen2.5-VL's temporal position ids are in seconds).
        """
        if timestamps is not None and _takes_timestamps(self.backend):
            visual = self.backend.encode(frames, frame_indices, timestamps=list(timestamps))
        else:
            visual = self.backend.encode(frames, frame_indices)
        self.stats["vision_encodes"] += 1
        return EncodedVideo(visual, np.asarray(frame_indices, dtype=np.int64), width, height, frame_count, span)

    # ------------------------------------------------------------------ passes
    def _prefill(self, visual: VisualTokens, questions: list[str], prompt: torch.Tensor | None) -> list[PrefillOutput]:
        rows = [self.config.token_offset] if self.config.token_rule == "fixed" else None
        with torch.no_grad():
            outputs = self.backend.prefill(visual, questions, visual_prompt=prompt, rows=rows, layers=self.layers)
        self.stats["forward_passes"] += len(questions)
        return outputs

    def _question_and_caption(
        self, encoded: EncodedVideo, reverse: bool, question: str, prompt: torch.Tensor | None
    ) -> tuple[PrefillOutput, PrefillOutput]:
        visual = encoded.tokens(reverse)
        caption = self.config.caption_prompt
        if prompt is not None:
            out_q, out_c = self._prefill(visual, [question, caption], prompt)
            return out_q, out_c
        if reverse not in encoded.caption_cache:
            out_q, out_c = self._prefill(visual, [question, caption], None)
            encoded.caption_cache[reverse] = out_c
            return out_q, out_c
        (out_q,) = self._prefill(visual, [question], None)
        return out_q, encoded.caption_cache[reverse]

    def branch(
        self,
        encoded: EncodedVideo,
        question: str,
        *,
        learn: bool,
        reverse: bool = False,
        inference_question: str | None = None,
        token_index: int | None = None,
    ) -> BranchResult:
        """The relative map of one question (optionally with a learned prompt), in video order."""
        cfg = self.config
        lra = None
        prompt = None
        if learn and cfg.lra_steps > 0:
            lra = learn_visual_prompt(
                self.backend,
                encoded.tokens(reverse),
                question,
                cfg.caption_prompt,
                steps=cfg.lra_steps,
                lr=cfg.lra_lr,
                beta=cfg.lra_beta,
                loss=cfg.lra_loss,
                ema=cfg.lra_ema,
            )
            prompt = lra.prompt
            self.stats["forward_passes"] += lra.forward_passes
            self.stats["backward_passes"] += lra.backward_passes
        asked = inference_question or question
        out_q, out_c = self._question_and_caption(encoded, reverse, asked, prompt)
        relative = relative_attention(out_q.attention, out_c.attention, cfg.eps)
        grid = encoded.visual.layout.to_grid(relative)
        if reverse:
            grid = unreverse_grid(grid)
        chosen, choice = choose_token(grid, out_q.row_tokens, cfg.token_rule, token_index)
        if lra is not None:
            margin = lra.initial_margin
        else:
            margin = float(yes_no_margin(out_q.logits, self.backend.yes_ids, self.backend.no_ids))
        return BranchResult(chosen.detach().float().cpu().numpy(), choice, margin, lra)

    # ------------------------------------------------------------------ one query
    def ground(
        self,
        encoded: EncodedVideo,
        query: str,
        parts: SubQueries,
        tracks: Sequence[Track] | Callable[[np.ndarray], Sequence[Track]],
    ) -> QueryOutcome:
        """Spatial then temporal grounding of one query among ``tracks``.

        ``tracks`` may be a callable that derives them from the spatial map
        ``(frames, rows, cols)`` over the sampled frames (detector-free proposals).
        """
        cfg = self.config
        template = cfg.question_template
        attr_q = template.format(_clean(parts.attribute or query))
        action_q = template.format(_clean(parts.action or query))
        full_q = template.format(_clean(query)) if cfg.inference_question == "full" else None

        spatial = self.branch(encoded, attr_q, learn=cfg.spatial_prompt, inference_question=full_q)
        spatial_rev = None
        spatial_grid = spatial.grid
        if cfg.tas:
            spatial_rev = self.branch(
                encoded, attr_q, learn=cfg.spatial_prompt, reverse=True,
                inference_question=full_q, token_index=spatial.choice.index,
            )
            first, second = spatial.grid, spatial_rev.grid
            if cfg.tas_normalize:
                first, second = first / max(first.max(), 1e-12), second / max(second.max(), 1e-12)
            spatial_grid = first + second
        temporal = self.branch(encoded, action_q, learn=cfg.temporal_prompt, inference_question=full_q)

        layout = encoded.visual.layout
        spatial_frames = spatial_grid[layout.group_of_frame]
        temporal_frames = temporal.grid[layout.group_of_frame]
        tracks = list(tracks(spatial_frames) if callable(tracks) else tracks)
        geometry = encoded.geometry
        sampled = encoded.frame_indices
        shapes = [track_shapes(t, sampled) for t in tracks]
        coverages = [np.stack([shape_coverage(s, geometry, cfg.coverage) for s in per]) for per in shapes]
        scores = score_tracks(spatial_frames, coverages)
        confidence = math.sqrt(_sigmoid(spatial.margin) * _sigmoid(temporal.margin))
        maps = {"spatial": spatial_frames.astype(np.float32), "temporal": temporal_frames.astype(np.float32)}
        if not len(tracks):
            return QueryOutcome(tracks, None, scores, np.zeros(len(sampled)), None, None,
                                spatial, spatial_rev, temporal, confidence, maps)
        best = int(np.argmax(scores))  # first maximum on ties
        raw = self._frame_scores(temporal_frames, shapes[best], coverages[best], geometry)
        normalised = raw / (raw.max() + 1e-4)
        span, sampled_span = self._span(tracks[best], normalised, encoded)
        return QueryOutcome(
            tracks, best, scores, normalised, span, sampled_span, spatial, spatial_rev, temporal, confidence, maps
        )

    def _frame_scores(
        self, frame_map: np.ndarray, shapes: list[FrameShape], coverage: np.ndarray, geometry: GridGeometry
    ) -> np.ndarray:
        if self.config.frame_score == "mask_max":
            return mask_max_scores(frame_map, shapes, geometry)
        return frame_scores(frame_map, coverage)

    def _span(
        self, track: Track, scores: np.ndarray, encoded: EncodedVideo
    ) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """The video-frame span and the inclusive sampled positions it was chosen from."""
        cfg = self.config
        sampled = encoded.frame_indices
        bounds = encoded.span or (0, encoded.frame_count)
        lo, hi = 0, len(sampled) - 1
        run = None
        if cfg.span_inside_track:
            runs = track.run_index(sampled)
            chosen = track_run(runs, scores)
            if chosen is None:  # the track exists on no sampled frame: no span
                return None, None
            lo, hi = chosen
            run = track.runs[int(runs[lo])]
        first, last = select_span(
            scores[lo : hi + 1], cfg.temporal_strategy, cfg.temporal_k, cfg.adaptive_threshold, tie=cfg.window_tie
        )
        first, last = first + lo, last + lo
        start, end = span_to_frames(sampled, first, last, cfg.span_mode, bounds)
        if run is not None:  # keep the video span where the track exists
            start, end = max(start, run[0]), min(end, run[1] + 1)
        return (start, end), (first, last)


def _takes_timestamps(backend: Backend) -> bool:
    try:
        return "timestamps" in inspect.signature(backend.encode).parameters
    except (TypeError, ValueError):
        return False


def _clean(text: str) -> str:
    """``text.strip('.').strip()``: the official template's cleaning of a sub-query."""
    return text.strip(".").strip()


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
