"""Typed configuration of the grounding engine and the ``paper`` / ``default`` presets.

Every knob of the method is a field of :class:`GrounderConfig`. :func:`preset` returns the
configuration for a backbone family:

* ``"paper"`` reproduces the official code's configuration: the layer window 6..25 of 32,
  the fixed grounding token, plain-gradient LRA with lr 8, two steps and EMA 0.5, the code's
  loss, TAS, and the greedy contiguous window of ``frames_thre + 1`` sampled frames (per
  dataset when given); then the backbone's own frames, square resolution, grounding-token
  offset, backend options and per-dataset changes, which its adapter declares as ``paper``
  (:class:`~tubescope.engine.backends.families.PaperSettings`, read from the family
  registry).
* ``"default"`` is what we recommend: the paper's adaptive grounding-token rule and all
  layers, one LRA step (the paper's best, Tab. 7), TAS, and spans that cover the video frames
  each sampled frame stands for.

Example:
    >>> cfg = preset("paper", "llava-onevision", dataset="hcstvg-v2")
    >>> cfg.token_rule, cfg.token_offset, cfg.temporal_k, cfg.resolution
    ('fixed', -3, 11, 336)
    >>> preset("default").replace(num_frames=8).num_frames
    8
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

__all__ = ["GrounderConfig", "preset", "PRESETS", "layer_window"]

PRESETS = ("default", "paper")

_CHOICES = {
    "layers": ("all", "official"),
    "token_rule": ("adaptive", "fixed", "mean"),
    "lra_loss": ("code", "paper"),
    "temporal_strategy": ("window", "topk", "adaptive"),
    "span_mode": ("sampled", "cover"),
    "inference_question": ("sub", "full"),
}


@dataclass(frozen=True)
class GrounderConfig:
    """All settings of one grounding run (see the module docstring for the presets).

    Attributes:
        num_frames: frames sampled uniformly over the video and shown to the model.
        resolution: resize every frame to this square size before encoding (the official
            code squashes to 336 or 224); None lets the backend size frames natively.
        caption_prompt: the contrast question of the relative attention (code:
            "please describe this video"; paper: "Describe this video in details.").
        question_template: how a sub-query becomes a question.
        layers: ``"all"``, ``"official"`` (layers ``[-26:-6]``: 6..25 of 32) or explicit indices.
        token_rule: ``"adaptive"`` (per sample, the candidate whose relative map peaks highest),
            ``"fixed"`` (``token_offset`` from the end of the prompt) or ``"mean"`` (average of
            all candidates, the paper's baseline).
        token_offset: prompt position of the fixed grounding token, from the end (-1 is last).
        lra_steps, lra_lr, lra_beta: logit-guided re-attention: plain gradient steps on an
            additive visual prompt, step size, and EMA weight of the prompt that is used.
        lra_loss: ``"code"`` (1 - s(sub-query) + s(caption)) or ``"paper"`` (-exp(z_yes - z_no)).
        spatial_prompt, temporal_prompt: learn prompts for the attribute / action branch.
        tas: temporal-augmented assembling: also ground on frame-reversed tokens (own prompt)
            and add the un-flipped map to the spatial map.
        tas_normalize: scale both maps to a peak of 1 before adding them.
        temporal_strategy: ``"window"`` (official greedy contiguous growth to ``temporal_k``
            frames), ``"topk"`` (paper: the ``temporal_k`` best frames, span = their hull) or
            ``"adaptive"`` (contiguous frames scoring at least ``adaptive_threshold`` x peak).
        span_mode: ``"sampled"`` (span from the first to the last chosen sampled frame,
            official) or ``"cover"`` (extend to halfway to the neighbouring samples).
        inference_question: ``"sub"`` (the code: sub-queries at inference) or ``"full"``
            (the paper's Alg. 1: the full query with the learned prompts).
        eps: floor of the relative attention denominator.
    """

    num_frames: int = 20
    resolution: int | None = None
    caption_prompt: str = "please describe this video"
    question_template: str = "Is there {} in this video?"
    layers: str | tuple[int, ...] = "all"
    token_rule: str = "adaptive"
    token_offset: int = -3
    lra_steps: int = 1
    lra_lr: float = 8.0
    lra_beta: float = 0.5
    lra_loss: str = "code"
    spatial_prompt: bool = True
    temporal_prompt: bool = True
    tas: bool = True
    tas_normalize: bool = False
    temporal_strategy: str = "window"
    temporal_k: int = 8
    adaptive_threshold: float = 0.5
    span_mode: str = "cover"
    inference_question: str = "sub"
    eps: float = 1e-4
    backend_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if name == "layers" and not isinstance(value, str):
                layers = tuple(int(v) for v in value)
                if not layers:
                    raise ValueError("layers: give at least one layer index, 'all' or 'official'")
                object.__setattr__(self, "layers", layers)
                continue
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {self.num_frames}")
        if self.resolution is not None and self.resolution < 28:
            raise ValueError(f"resolution must be at least 28 px, got {self.resolution}")
        if self.lra_steps < 0:
            raise ValueError(f"lra_steps must be >= 0, got {self.lra_steps}")
        if not 0.0 <= self.lra_beta <= 1.0:
            raise ValueError(f"lra_beta must be in [0, 1], got {self.lra_beta}")
        if self.temporal_k < 1:
            raise ValueError(f"temporal_k must be at least 1, got {self.temporal_k}")
        if not 0.0 < self.adaptive_threshold <= 1.0:
            raise ValueError(f"adaptive_threshold must be in (0, 1], got {self.adaptive_threshold}")
        if "{}" not in self.question_template:
            raise ValueError("question_template must contain {} where the sub-query goes")
        if self.eps <= 0:
            raise ValueError(f"eps must be positive, got {self.eps}")

    def replace(self, **changes: Any) -> GrounderConfig:
        """A copy with some fields changed (validated again)."""
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
            raise ValueError(f"unknown GrounderConfig field(s): {', '.join(unknown)}")
        return cls(**data)


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
        raise ValueError(f"layer indices {bad} are outside the model's {num_layers} layers")
    return chosen


# frames_thre + 1 of the official scripts, per dataset
_PAPER_WINDOW = {"hcstvg-v1": 8, "hcstvg-v2": 11, "vidstg": 6}


def preset(name: str, family: str | None = None, *, dataset: str | None = None) -> GrounderConfig:
    """The named preset for a backbone family (``None``: family-independent values).

    Args:
        name: ``"default"`` or ``"paper"``.
        family: backend family (``"qwen2-vl"``, ``"llava-onevision"``, ...), for per-backbone
            official values (its adapter's ``paper`` settings; none for a family the paper did
            not run or a custom backend's name); for ``"paper"`` this imports the adapter
            modules, and so torch.
        dataset: ``"hcstvg-v1"``, ``"hcstvg-v2"`` or ``"vidstg"``: the official window length.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {PRESETS}")
    if dataset is not None and dataset not in _PAPER_WINDOW:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {sorted(_PAPER_WINDOW)}")
    if name == "default":
        return GrounderConfig()
    values: dict[str, Any] = dict(
        layers="official",
        token_rule="fixed",
        lra_steps=2,
        lra_lr=8.0,
        lra_beta=0.5,
        lra_loss="code",
        tas=True,
        temporal_strategy="window",
        temporal_k=_PAPER_WINDOW.get(dataset or "hcstvg-v2", 11),
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
