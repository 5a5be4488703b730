"""Shared implementation of the :class:`~tubescope.engine.backends.base.Backend` protocol
for transformers models.

A family adapter subclasses :class:`TransformersBackend`, declares its family
(:mod:`.families`: name, model types, transformers class, paper settings, tiny recipe; the
class registers itself when it is defined) and provides:

* :meth:`~TransformersBackend._encode_frames`: pixels -> vision tower -> projector -> pooling,
  returning the ``(num_tokens, hidden)`` embeddings, their :class:`TokenLayout` and private
  ``extra`` data (an ``extra["layer_embeds"]`` entry, the DeepStack features of Qwen3-VL,
  becomes :attr:`VisualTokens.layer_embeds`);
* :attr:`~TransformersBackend.template`: its :class:`ChatTemplate`;
* optionally :meth:`~TransformersBackend._position_ids` (Qwen's M-RoPE).

Everything else is shared here: freezing the model, switching its language model to the
row-capturing attention (:mod:`.capture`), prompt assembly (:mod:`.prompting`), yes/no ids,
and :meth:`~TransformersBackend.prefill`, which builds ``inputs_embeds`` itself (text
embeddings with ``visual.embeds + visual_prompt`` in the visual span), gives the language model
the per-layer visual features of the positions each forward covers
(:meth:`~TransformersBackend._language_model_inputs`), runs the shared prefix once with a KV
cache and each question's suffix against a fork of it (:mod:`.prefill`), and returns the
last-position logits and the captured attention rows.

Counters (``backend.counters``, a plain dict the engine may read and reset):

* ``vision_encodes``: vision tower + projector runs (one per :meth:`encode`);
* ``prefix_passes``: language-model forwards of a shared prefix;
* ``forward_passes``: language-model forwards that end in a question's logits (one per
  question per :meth:`prefill`: a suffix forward, or a full forward when nothing is shared);
* ``forward_tokens``: tokens pushed through the language model by all of those;
* ``generated_tokens``: tokens produced by :meth:`~TransformersBackend.generate_text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from tubescope.engine.backends import capture as _capture
from tubescope.engine.backends import families as _families
from tubescope.engine.backends.base import PrefillOutput, Prompt, TokenLayout, VisualTokens
from tubescope.engine.backends.pixels import PreprocessorConfig, check_frames
from tubescope.engine.geometry import FULL_VIEW
from tubescope.engine.backends.prefill import (
    fork_cache,
    resolve_layers,
    resolve_rows,
    shared_prefix_length,
)
from tubescope.engine.backends.prompting import ChatTemplate, answer_token_ids, tokenize_prompt
from tubescope.engine.backends.generation import greedy_generate
from tubescope.errors import ModelUnavailableError, QueryError

__all__ = ["TransformersBackend"]

COUNTER_NAMES = (
    "vision_encodes",
    "prefix_passes",
    "forward_passes",
    "forward_tokens",
    "generated_tokens",
)


class TransformersBackend:
    """Base class of the transformers-model adapters (see the module docstring).

    Args:
        model: a transformers ``*ForConditionalGeneration`` model; it is frozen (eval mode, no
            parameter requires grad) and its language model switched to the capturing attention.
        tokenizer: its tokenizer (a fast tokenizer: character offsets are needed).
        preprocessor: the checkpoint's preprocessing fields.
        model_id: where the checkpoint came from (for messages).
        share_prefix: run the common prefix of several questions once (default True).
        **options: family options, see each adapter.
    """

    #: family name, e.g. ``"qwen2-vl"``; a subclass that declares it is registered
    #: (:func:`~tubescope.engine.backends.families.register`).
    family: ClassVar[str] = ""
    #: config ``model_type`` values this adapter handles.
    model_types: ClassVar[tuple[str, ...]] = ()
    #: name of the transformers model class to load (see :meth:`transformers_class`).
    model_class_name: ClassVar[str] = ""
    #: the official code's settings for this backbone (None: the paper did not run it).
    paper: ClassVar[_families.PaperSettings | None] = None
    #: how :func:`tubescope.testing.save_tiny_model` writes a tiny checkpoint (None: it cannot).
    tiny: ClassVar[_families.TinyRecipe | None] = None
    #: default preprocessing values where the checkpoint's JSON files say nothing.
    preprocessor_defaults: ClassVar[Mapping[str, Any]] = {}
    #: options accepted by the adapter, with their defaults.
    option_defaults: ClassVar[Mapping[str, Any]] = {}
    #: model config fields that may hold the placeholder token's id (checked against the tokenizer).
    placeholder_config_keys: ClassVar[tuple[str, ...]] = ("video_token_id", "video_token_index")

    template: ChatTemplate

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        preprocessor: PreprocessorConfig | None = None,
        model_id: str = "<in-memory model>",
        *,
        share_prefix: bool = True,
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown:
            raise _families.BackendOptionError(
                f"{type(self).__name__}: unknown option(s) {unknown}; "
                f"valid options: {sorted(self.option_defaults)}"
            )
        self.options: dict[str, Any] = {**self.option_defaults, **options}
        self.model = model
        self.tokenizer = tokenizer
        self.preprocessor = preprocessor or PreprocessorConfig.from_dict(
            {}, **self.preprocessor_defaults
        )
        self.model_id = model_id
        self.share_prefix = bool(share_prefix)

        model.eval()
        model.requires_grad_(False)
        _capture.install(model)

        text_config = model.config.get_text_config()
        self.num_layers: int = int(text_config.num_hidden_layers)
        self.hidden_size: int = int(text_config.hidden_size)
        first = next(model.parameters())
        self.device: torch.device = first.device
        self.dtype: torch.dtype = first.dtype
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)

        self.template = self._make_template()
        self.placeholder_id: int = int(tokenizer.convert_tokens_to_ids(self.template.placeholder))
        self._check_placeholder()
        self.yes_ids: tuple[int, ...] = answer_token_ids(tokenizer, "yes", model_id)
        self.no_ids: tuple[int, ...] = answer_token_ids(tokenizer, "no", model_id)
        vocab = int(model.get_output_embeddings().weight.shape[0])
        for name, ids in (("yes", self.yes_ids), ("no", self.no_ids)):
            if max(ids) >= vocab:
                raise ValueError(
                    f"{model_id}: {name!r} token id {max(ids)} is outside the model's {vocab} logits"
                )
        self._prompt_cache: dict[tuple[str, int], Any] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "family" in cls.__dict__:
            _families.register(cls)

    @classmethod
    def transformers_class(cls) -> type:
        """The transformers model class that loads this family's checkpoints.

        Raises:
            ModelUnavailableError: the installed transformers has no ``model_class_name``.
        """
        import transformers

        found = getattr(transformers, cls.model_class_name, None)
        if found is None:
            raise ModelUnavailableError(
                f"{cls.family}: transformers {transformers.__version__} has no "
                f"{cls.model_class_name}; install a transformers version that has it"
            )
        return found

    # ------------------------------------------------------------------ family hooks

    def _make_template(self) -> ChatTemplate:
        raise NotImplementedError

    def _check_placeholder(self) -> None:
        """Verify that the template's placeholder id is the model's video token id."""
        expected = None
        for key in self.placeholder_config_keys:
            expected = getattr(self.model.config, key, None)
            if expected is not None:
                break
        if expected is not None and int(expected) != self.placeholder_id:
            raise ValueError(
                f"{self.model_id}: tokenizer id of {self.template.placeholder!r} is {self.placeholder_id}, "
                f"the model config's video token id is {expected}"
            )

    def _encode_frames(
        self, frames: np.ndarray, **kwargs: Any
    ) -> tuple[torch.Tensor, TokenLayout, dict[str, Any]]:
        raise NotImplementedError

    def _position_ids(self, input_ids: torch.Tensor, visual: VisualTokens) -> torch.Tensor:
        """Position ids of one prompt, ``(1, L)`` (1-D RoPE) or ``(3, 1, L)`` (M-RoPE)."""
        return torch.arange(input_ids.shape[-1], device=self.device)[None]

    def _placeholder_counts(self, visual: VisualTokens) -> list[int]:
        """Visual tokens per placeholder: the whole video, or one entry per temporal group."""
        return [visual.num_tokens]

    def frame_view(self, height: int, width: int) -> tuple[float, float, float, float]:
        """The part ``(x0, y0, x1, y1)`` (fractions) of a ``height x width`` frame the token grid
        covers after this family's preprocessing (:attr:`VisualTokens.view`); the whole frame
        unless the adapter crops or pads."""
        return FULL_VIEW

    def _text_position_ids(self, start: int, length: int) -> torch.Tensor:
        """Position ids of ``length`` text tokens after ``start`` others (no video)."""
        return torch.arange(start, start + length, device=self.device)[None]

    def _group_seconds(self, visual: VisualTokens) -> list[float] | None:
        """The time of each temporal group, for templates that print it."""
        return None

    def _language_model_inputs(
        self, visual: VisualTokens, visual_index: Sequence[int] | torch.Tensor, start: int, end: int
    ) -> dict[str, Any]:
        """Extra keyword arguments of the language-model forward over prompt positions
        ``[start, end)`` whose visual tokens sit at ``visual_index``: for tokens with
        :attr:`~VisualTokens.layer_embeds` (DeepStack), transformers' ``visual_pos_masks``
        (the forward's visual positions) and ``deepstack_visual_embeds`` (one ``(n, hidden)``
        tensor per layer, those positions' features in order); nothing otherwise. The visual
        prompt is not added to these features: it lives in the input embedding space only."""
        layers = visual.layer_embeds
        if layers is None:
            return {}
        index = torch.as_tensor(visual_index, device=self.device)
        inside = (index >= start) & (index < end)
        if not bool(inside.any()):
            return {}
        mask = torch.zeros(1, end - start, dtype=torch.bool, device=self.device)
        mask[0, index[inside] - start] = True
        features = layers.to(self.device, self.dtype)[:, inside]
        return {"visual_pos_masks": mask, "deepstack_visual_embeds": list(features)}

    @property
    def language_model(self) -> torch.nn.Module:
        return self.model.model.language_model

    # ------------------------------------------------------------------ protocol

    def encode(
        self, frames: np.ndarray, frame_indices: Sequence[int] | None = None, **kwargs: Any
    ) -> VisualTokens:
        """Run the vision tower and projector once on ``(F, H, W, 3)`` uint8 RGB frames.

        ``frame_indices`` are the video frame numbers of ``frames`` (default ``0..F-1``); they
        are kept on the result for the engine. Family-specific keyword arguments are documented
        on each adapter.
        """
        frames = check_frames(frames)
        if frame_indices is None:
            frame_indices = np.arange(frames.shape[0])
        indices = np.asarray(frame_indices, dtype=np.int64)
        if indices.shape != (frames.shape[0],):
            raise ValueError(f"{len(indices)} frame indices for {frames.shape[0]} frames")
        with torch.no_grad():
            embeds, layout, extra = self._encode_frames(frames, **kwargs)
        self.counters["vision_encodes"] += 1
        embeds = embeds.detach().to(self.dtype)
        layers = extra.pop("layer_embeds", None)
        if layers is not None:
            layers = layers.detach().to(self.dtype)
        view = self.frame_view(frames.shape[1], frames.shape[2])
        return VisualTokens(
            embeds=embeds,
            layout=layout,
            frame_indices=indices,
            extra=extra,
            view=view,
            layer_embeds=layers,
        )

    def prompt(self, question: str, visual: VisualTokens) -> Prompt:
        """Chat-template ``question`` after the video placeholder of ``visual``."""
        counts = self._placeholder_counts(visual)
        seconds = self._group_seconds(visual)
        key = (question, tuple(counts), None if seconds is None else tuple(seconds))
        tokenized = self._prompt_cache.get(key)
        if tokenized is None:
            tokenized = tokenize_prompt(self.tokenizer, self.template, question, counts, seconds)
            if len(self._prompt_cache) > 256:
                self._prompt_cache.clear()
            self._prompt_cache[key] = tokenized
        return Prompt(
            question=question,
            input_ids=torch.tensor(tokenized.input_ids, dtype=torch.long),
            visual_start=tokenized.visual_start,
            num_visual=tokenized.num_visual,
            candidates=tokenized.candidates,
            candidate_tokens=tokenized.candidate_tokens,
            visual_positions=tokenized.visual_positions,
        )

    def prefill(
        self,
        visual: VisualTokens,
        questions: Sequence[str],
        *,
        visual_prompt: torch.Tensor | None = None,
        rows: Sequence[int] | None = None,
        layers: Sequence[int] | None = None,
        per_layer: bool = False,
    ) -> list[PrefillOutput]:
        """One prefill per question, the shared video prefix computed once.

        Returns one :class:`PrefillOutput` per question: float32 (float64 for a float64 model)
        logits at the last position
        (attached to the graph when ``visual_prompt`` requires grad: sum the losses of all
        questions and call ``backward`` once, the prefix graph is shared) and the detached,
        head-averaged attention of the requested rows over the visual tokens.
        """
        if isinstance(questions, str):
            raise TypeError("questions must be a sequence of strings, not a single string")
        if not questions:
            raise ValueError("questions is empty")
        prompts = [self.prompt(q, visual) for q in questions]
        if len({p.visual_index for p in prompts}) != 1:
            raise RuntimeError(f"{self.family}: the prompts put the video at different positions")
        if prompts[0].num_visual != visual.num_tokens:
            raise RuntimeError(
                f"{self.family}: prompt has {prompts[0].num_visual} visual positions "
                f"for {visual.num_tokens} tokens"
            )
        contiguous = prompts[0].visual_positions is None
        start, end = prompts[0].visual_start, prompts[0].visual_end
        columns: Any = (start, end) if contiguous else prompts[0].visual_index
        visual_index = torch.tensor(prompts[0].visual_index, device=self.device)
        layer_ids = resolve_layers(layers, self.num_layers)
        row_ids = [resolve_rows(rows, p.length, p.candidates) for p in prompts]

        vis = visual.embeds.to(self.device, self.dtype)
        if visual_prompt is not None:
            if tuple(visual_prompt.shape) != tuple(vis.shape):
                raise ValueError(
                    f"visual_prompt must have the visual embeddings' shape {tuple(vis.shape)}, "
                    f"got {tuple(visual_prompt.shape)}"
                )
            vis = vis + visual_prompt.to(self.device, self.dtype)
        needs_grad = torch.is_grad_enabled() and vis.requires_grad

        ids = [p.input_ids.to(self.device) for p in prompts]
        positions = [self._position_ids(i, visual) for i in ids]
        share = self.share_prefix and len(prompts) > 1
        prefix = shared_prefix_length([p.input_ids.tolist() for p in prompts]) if share else 0

        outputs: list[PrefillOutput] = []
        with torch.set_grad_enabled(needs_grad):
            embed = self.model.get_input_embeddings()
            embeds = []
            for token_ids in ids:
                text = embed(token_ids[None])
                if contiguous:
                    embeds.append(torch.cat([text[:, :start], vis[None], text[:, end:]], dim=1))
                else:
                    embeds.append(text[0].index_copy(0, visual_index, vis)[None])

            prefix_capture = None
            cache = None
            if prefix > 0:
                for pos in positions[1:]:
                    if not torch.equal(pos[..., :prefix], positions[0][..., :prefix]):
                        raise RuntimeError(
                            f"{self.family}: position ids of the shared prefix differ between prompts"
                        )
                prefix_rows = sorted({r for rs in row_ids for r in rs if r < prefix})
                prefix_capture = _capture.RowCapture(layer_ids, prefix_rows, columns)
                with _capture.capturing(prefix_capture):
                    out = self.language_model(
                        inputs_embeds=embeds[0][:, :prefix],
                        position_ids=positions[0][..., :prefix],
                        use_cache=True,
                        **self._language_model_inputs(visual, visual_index, 0, prefix),
                    )
                cache = out.past_key_values
                self.counters["prefix_passes"] += 1
                self.counters["forward_tokens"] += prefix

            for prompt, emb, pos, wanted in zip(prompts, embeds, positions, row_ids, strict=True):
                own_rows = [r for r in wanted if r >= prefix]
                cap = _capture.RowCapture(layer_ids, own_rows, columns)
                with _capture.capturing(cap):
                    out = self.language_model(
                        inputs_embeds=emb[:, prefix:],
                        position_ids=pos[..., prefix:],
                        past_key_values=fork_cache(cache) if cache is not None else None,
                        use_cache=cache is not None,
                        **self._language_model_inputs(visual, visual_index, prefix, prompt.length),
                    )
                self.counters["forward_passes"] += 1
                self.counters["forward_tokens"] += prompt.length - prefix
                logits = self.model.lm_head(out.last_hidden_state[:, -1])[0]
                logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # float64 stays
                if prefix_capture is not None:
                    for layer, values in prefix_capture.captured.items():
                        cap.captured.setdefault(layer, {}).update(values)
                attention = cap.result(list(wanted), per_layer=per_layer).float()
                tokens = tuple(
                    self.tokenizer.convert_ids_to_tokens([int(prompt.input_ids[r]) for r in wanted])
                )
                outputs.append(
                    PrefillOutput(
                        logits=logits, attention=attention, rows=wanted, row_tokens=tokens
                    )
                )
        return outputs

    def generate_text(self, prompt: str, max_new_tokens: int = 64) -> str:
        """Greedy text-only generation (:mod:`.generation`): ``prompt`` as one user turn of
        the family's chat template, at most ``max_new_tokens`` new tokens, no sampling.
        Makes the backend a :class:`tubescope.decompose.TextGenerator`."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise QueryError("the generation prompt is empty")
        text = self.template.text_only(prompt)
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if self.template.add_bos:
            ids = [self.tokenizer.bos_token_id, *ids]
        new = greedy_generate(self, ids, int(max_new_tokens))
        self.counters["generated_tokens"] += len(new)
        return str(self.tokenizer.decode(new, skip_special_tokens=True))

    # ------------------------------------------------------------------ helpers

    def margin(self, output: PrefillOutput) -> torch.Tensor:
        """``logit(yes) - logit(no)`` of the official ids (``yes_ids[0]``, ``no_ids[0]``)."""
        return output.logits[self.yes_ids[0]] - output.logits[self.no_ids[0]]

    def reset_counters(self) -> dict[str, int]:
        """Zero the counters and return their previous values."""
        previous = dict(self.counters)
        for name in self.counters:
            self.counters[name] = 0
        return previous

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_id={self.model_id!r}, layers={self.num_layers}, "
            f"device={self.device}, dtype={self.dtype}, options={self.options})"
        )
