"""Typed configuration of the grounding engine and the ``paper`` / ``default`` presets.

Every knob of the method is a field of :class:`GrounderConfig`; every field whose values are
a fixed set of words is typed with a ``Literal`` alias (:data:`TokenRule`, :data:`Coverage`,
...), and those annotations are the one place the allowed values are written: the check in
:meth:`GrounderConfig.__post_init__` and ``--set`` on the command line read them. A bad value
raises :class:`ConfigError` naming the field. :func:`preset` returns the configuration for a
backbone family:

* ``"paper"`` makes the official code's decisions (docs/method.md, "Presets"): the fixed
  grounding token, plain-gradient LRA with lr 8, two steps and the official EMA, the code's
  loss, all layers averaged (the official LRA/TAS paths), TAS, coverage sampled at cell
  centres, per-frame scores as the map's maximum inside the upsampled binary mask, frames
  sampled over the proposal frames, and the official greedy window of ``frames_thre + 1``
  sampled frames that stops on an exact tie (per dataset when given); then the backbone's
  own frames, square resolution, grounding-token offset, backend options (pooling order,
  position ids) and per-dataset changes, which its adapter declares as ``paper``
  (:class:`~tubescope.engine.backends.families.PaperSettings`, read from the family
  registry).
* ``"default"`` is what we recommend: the paper's adaptive grounding-token rule, one LRA step
  (the paper's best, Tab. 7), TAS, area coverage, frames sampled over the whole video (masks
  taken from the nearest mask keyframe), spans that stay where the chosen track exists and
  cover the video frames each sampled frame stands for.

README "`default` vs `paper` vs official" lists every difference and its reason.

Example:
    >>> cfg = preset("paper", "llava-onevision", dataset="hcstvg-v2")
    >>> cfg.token_rule, cfg.token_offset, cfg.temporal_k, cfg.resolution, cfg.coverage
    ('fixed', -3, 11, 336, 'centre')
    >>> preset("default").replace(num_frames=8).num_frames
    8
    >>> try:
    ...     GrounderConfig(token_rule="x")
    ... except ConfigError as err:
    ...     print(err)
    token_rule: must be one of 'adaptive', 'fixed', 'mean', got 'x'
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from typing import Any, Literal

from tubescope.errors import ValidationError

__all__ = [
    "GrounderConfig",
    "ConfigError",
    "preset",
    "PRESETS",
    "layer_window",
    "LayerChoice",
    "TokenRule",
    "LRALoss",
    "LRAEma",
    "Coverage",
    "FrameScore",
    "SampleFrames",
    "WindowTie",
    "SpanMode",
    "InferenceQuestion",
]

PRESETS = ("default", "paper")

#: ``"all"`` decoder layers, or ``"official"``: the code's ``[-26:-6]`` slice.
LayerChoice = Literal["all", "official"]
#: how the grounding token is chosen (:func:`tubescope.engine.relative.choose_token`).
TokenRule = Literal["adaptive", "fixed", "mean"]
#: the LRA objective (:mod:`tubescope.engine.lra`).
LRALoss = Literal["code", "paper"]
#: where LRA evaluates its gradients and which prompt it returns (:mod:`tubescope.engine.lra`).
LRAEma = Literal["official", "iterates"]
#: how a track's mask (or box) becomes weights on the token grid (:mod:`tubescope.engine.spatial`).
Coverage = Literal["area", "centre"]
#: how a sampled frame is scored inside the chosen track (:mod:`tubescope.engine.temporal`).
FrameScore = Literal["mask_max", "coverage"]
#: which frames are sampled: uniformly over the video, or over the proposal frames.
SampleFrames = Literal["video", "proposals"]
#: what the greedy window does when both neighbours score the same.
WindowTie = Literal["earlier", "stop"]
#: how sampled positions become a video-frame span (:func:`tubescope.engine.temporal.span_to_frames`).
SpanMode = Literal["sampled", "cover"]
#: which question is asked at inference: the sub-queries (the code) or the full query (Alg. 1).
InferenceQuestion = Literal["sub", "full"]


class ConfigError(ValidationError):
    """A :class:`GrounderConfig` field has a bad value; the message starts with the field name."""


@dataclass(frozen=True)
class GrounderConfig:
    """All settings of one grounding run (see the module docstring for the presets, and
    docs/method.md for what each option changes).

    Attributes:
        num_frames: frames sampled and shown to the model.
        resolution: resize every frame to this square size before encoding (the official
            code squashes to 336 or 224 with Pillow's bicubic filter); None lets the backend
            size frames natively.
        caption_prompt: the contrast question of the relative attention (code:
            "please describe this video"; paper: "Describe this video in details.").
        question_template: how a sub-query becomes a question.
        layers: ``"all"``, ``"official"`` (layers ``[-26:-6]``: 6..25 of 32, what the official
            LLaVA-NeXT-Video base mode without LRA averages) or explicit indices.
        token_rule: ``"adaptive"`` (per sample, the candidate whose relative map peaks highest),
            ``"fixed"`` (``token_offset`` from the end of the prompt) or ``"mean"`` (average of
            all candidates, the paper's baseline).
        token_offset: prompt position of the fixed grounding token, from the end (-1 is last).
        lra_steps, lra_lr, lra_beta: logit-guided re-attention: plain gradient steps on an
            additive visual prompt, step size, and EMA weight.
        lra_loss: ``"code"`` (1 - s(sub-query) + s(caption)) or ``"paper"`` (-exp(z_yes - z_no)).
        lra_ema: ``"official"`` (each forward after the first runs at the EMA point
            ``beta * V + (1 - beta) * V_prev`` and the returned prompt is that point) or
            ``"iterates"`` (forwards at the raw iterates, the prompt is an EMA of them); the
            same for one step.
        spatial_prompt, temporal_prompt: learn prompts for the attribute / action branch.
        tas: temporal-augmented assembling: also ground on frame-reversed tokens (own prompt)
            and add the un-flipped map to the spatial map.
        tas_normalize: scale both maps to a peak of 1 before adding them.
        coverage: how a track's mask (its box when it has none) weighs the token cells when
            tracks are scored: ``"area"`` (the fraction of each cell it covers) or ``"centre"``
            (the mask sampled bilinearly at the cell centres, the official
            ``F.interpolate(mask, (rows, cols))``).
        frame_score: a sampled frame's temporal score inside the chosen track: ``"mask_max"``
            (the map upsampled bilinearly to the frame, maximum inside the binary mask, the
            official rule) or ``"coverage"`` (maximum over cells of map x coverage).
        sample_frames: ``"video"`` (uniformly over the video or span; a frame without a mask
            uses the nearest mask keyframe moved with the box) or ``"proposals"`` (uniformly
            over the proposal frames, the official sampling: every sampled frame has its mask;
            sources without proposal frames fall back to ``"video"``).
        temporal_strategy: a registered span strategy (:mod:`tubescope.engine.temporal`):
            ``"window"`` (greedy contiguous growth to ``temporal_k`` frames), ``"topk"``
            (the paper: the ``temporal_k`` best frames, span = their hull) or ``"adaptive"``
            (contiguous frames scoring at least ``adaptive_threshold`` x peak).
        window_tie: the window on equal neighbours: ``"earlier"`` (take the earlier one, keep
            growing) or ``"stop"`` (stop growing, the official loop).
        span_inside_track: pick the span only among the sampled frames where the chosen track
            exists (its run of frames around the peak), and keep the video span inside it;
            False lets it grow over frames where the track is absent (the official code).
        span_mode: ``"sampled"`` (span from the first to the last chosen sampled frame,
            official) or ``"cover"`` (extend to halfway to the neighbouring samples).
        inference_question: ``"sub"`` (the code: sub-queries at inference) or ``"full"``
            (the paper's Alg. 1: the full query with the learned prompts).
        eps: floor of the relative attention denominator.
        backend_options: adapter options (pooling stride and order, position ids, ...).
    """

    num_frames: int = 20
    resolution: int | None = None
    caption_prompt: str = "please describe this video"
    question_template: str = "Is there {} in this video?"
    layers: LayerChoice | tuple[int, ...] = "all"
    token_rule: TokenRule = "adaptive"
    token_offset: int = -3
    lra_steps: int = 1
    lra_lr: float = 8.0
    lra_beta: float = 0.5
    lra_loss: LRALoss = "code"
    lra_ema: LRAEma = "official"
    spatial_prompt: bool = True
    temporal_prompt: bool = True
    tas: bool = True
    tas_normalize: bool = False
    coverage: Coverage = "area"
    frame_score: FrameScore = "mask_max"
    sample_frames: SampleFrames = "video"
    temporal_strategy: str = "window"
    temporal_k: int = 8
    adaptive_threshold: float = 0.5
    window_tie: WindowTie = "earlier"
    span_inside_track: bool = True
    span_mode: SpanMode = "cover"
    inference_question: InferenceQuestion = "sub"
    eps: float = 1e-4
    backend_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, allowed in _literal_choices().items():
            value = getattr(self, name)
            if name == "layers" and not isinstance(value, str):
                try:
                    layers = tuple(int(v) for v in value)
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"give 'all', 'official' or a list of layer indices, got {value!r}", name
                    ) from None
                if not layers:
                    raise ConfigError("give at least one layer index, 'all' or 'official'", name)
                object.__setattr__(self, "layers", layers)
                continue
            if value not in allowed:
                choices = ", ".join(repr(v) for v in allowed)
                raise ConfigError(f"must be one of {choices}, got {value!r}", name)
        from tubescope.engine.temporal import strategy_names

        if self.temporal_strategy not in strategy_names():
            choices = ", ".join(repr(v) for v in strategy_names())
            raise ConfigError(f"must be one of {choices}, got {self.temporal_strategy!r}", "temporal_strategy")
        if self.num_frames < 1:
            raise ConfigError(f"must be at least 1, got {self.num_frames}", "num_frames")
        if self.resolution is not None and self.resolution < 28:
            raise ConfigError(f"must be at least 28 px, got {self.resolution}", "resolution")
        if self.lra_steps < 0:
            raise ConfigError(f"must be >= 0, got {self.lra_steps}", "lra_steps")
        if not 0.0 <= self.lra_beta <= 1.0:
            raise ConfigError(f"must be in [0, 1], got {self.lra_beta}", "lra_beta")
        if self.temporal_k < 1:
            raise ConfigError(f"must be at least 1, got {self.temporal_k}", "temporal_k")
        if not 0.0 < self.adaptive_threshold <= 1.0:
            raise ConfigError(f"must be in (0, 1], got {self.adaptive_threshold}", "adaptive_threshold")
        if "{}" not in self.question_template:
            raise ConfigError("must contain {} where the sub-query goes", "question_template")
        if self.eps <= 0:
            raise ConfigError(f"must be positive, got {self.eps}", "eps")

    def replace(self, **changes: Any) -> GrounderConfig:
        """A copy with some fields changed (validated again)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ConfigError(f"unknown GrounderConfig field(s): {', '.join(unknown)}", unknown[0])
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if isinstance(self.layers, tuple):
            data["layers"] = list(self.layers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GrounderConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown GrounderConfig field(s): {', '.join(unknown)}", unknown[0])
        return cls(**data)


_UnionType = type(int | str)


@cache
def _literal_choices() -> dict[str, tuple[Any, ...]]:
    """``field -> allowed words`` for every field whose annotation holds a ``Literal``."""
    hints = typing.get_type_hints(GrounderConfig)
    choices: dict[str, tuple[Any, ...]] = {}
    for f in fields(GrounderConfig):
        hint = hints[f.name]
        arms = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else (hint,)
        words = tuple(w for arm in arms if typing.get_origin(arm) is Literal for w in typing.get_args(arm))
        if words:
            choices[f.name] = words
    return choices


def layer_window(layers: str | tuple[int, ...], num_layers: int) -> list[int] | None:
    """Decoder layers to average: None for all, else explicit indices.

    ``"official"`` is the code's ``[-26:-6]`` slice (6..25 of 32, 2..21 of 28); on models too
    shallow for it, every layer is used.

    Example:
        >>> layer_window("official", 32)[0], layer_window("official", 32)[-1]
        (6, 25)
        >>> layer_window("official", 4) is None
        True
    """
    if layers == "all":
        return None
    if layers == "official":
        window = list(range(num_layers))[-26:-6]
        return window or None
    chosen = [i if i >= 0 else num_layers + i for i in layers]
    bad = [i for i in chosen if not 0 <= i < num_layers]
    if bad:
        raise ConfigError(f"layer indices {bad} are outside the model's {num_layers} layers", "layers")
    return chosen


def preset(name: str, family: str | None = None, *, dataset: str | None = None) -> GrounderConfig:
    """The named preset for a backbone family (``None``: family-independent values).

    Args:
        name: ``"default"`` or ``"paper"``.
        family: backend family (``"qwen2-vl"``, ``"llava-onevision"``, ...), for per-backbone
            official values (its adapter's ``paper`` settings; none for a family the paper did
            not run or a custom backend's name); for ``"paper"`` this imports the adapter
            modules, and so torch.
        dataset: a name of the dataset table (:mod:`tubescope.eval.datasets`: ``"hcstvg-v1"``,
            ``"hcstvg-v2"``, ``"vidstg"``, ...): the official window length (its ``window``,
            the scripts' ``frames_thre + 1``) and the per-dataset overrides of the family.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}", "preset")
    if dataset is not None:
        from tubescope.eval.datasets import dataset_names, get_dataset

        if dataset not in dataset_names():
            raise ConfigError(
                f"unknown dataset {dataset!r}; choose from {', '.join(dataset_names())}", "dataset"
            )
        window = get_dataset(dataset).window
    else:
        window = 11  # HC-STVG-v2's, the paper's main benchmark
    if name == "default":
        return GrounderConfig()
    values: dict[str, Any] = dict(
        layers="all",  # every official LRA / TAS path averages all layers
        token_rule="fixed",
        lra_steps=2,
        lra_lr=8.0,
        lra_beta=0.5,
        lra_loss="code",
        lra_ema="official",
        tas=True,
        coverage="centre",
        frame_score="mask_max",
        sample_frames="proposals",
        temporal_strategy="window",
        temporal_k=window,
        window_tie="stop",
        span_inside_track=False,
        span_mode="sampled",
        inference_question="sub",
        resolution=336,
    )
    if family is not None:
        from tubescope.engine.backends.families import paper_settings

        settings = paper_settings(family)
        if settings is not None:
            values.update(settings.config_fields(dataset))
    return GrounderConfig(**values)
