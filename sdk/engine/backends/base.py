"""The backend protocol: what the grounding engine needs from a multimodal LLM.

An adapter per model family implements :class:`Backend`. The engine only ever:

1. encodes a video's sampled frames once (:meth:`Backend.encode` -> :class:`VisualTokens`);
2. optionally reverses their frame order without re-encoding (:meth:`VisualTokens.reversed_frames`);
3. runs prefill forwards of a few questions that share the video prefix
   (:meth:`Backend.prefill`), with an optional additive *visual prompt* (a tensor shaped like
   the visual embeddings, the only thing gradients reach), reading back the last-position
   logits and the attention that chosen prompt rows pay to the visual tokens;
4. maps a vector over visual tokens to a ``(frames, rows, cols)`` grid (:class:`TokenLayout`).

Adding a backend
----------------
Write a class with the attributes and methods of :class:`Backend` (no inheritance needed: it
is a ``typing.Protocol``) and pass an instance as ``Grounder(model=my_backend)``:

* ``encode`` turns ``(F, H, W, 3)`` uint8 RGB frames into visual embeddings in the LLM input
  space, ``(num_tokens, hidden)``, plus their :class:`TokenLayout`.
* ``prompt`` builds the chat-templated token ids of one question with the video placeholder
  expanded to exactly ``num_tokens`` positions (one contiguous span, or per-frame spans listed
  in ``Prompt.visual_positions`` when the template puts text between frames), and lists the
  candidate grounding-token positions (the template's special tokens after the user text).
* ``prefill`` runs the model once per question (never ``generate``) and returns
  :class:`PrefillOutput` objects. The logits must carry gradients to ``visual_prompt`` when it
  requires grad; attention rows are returned detached.
* ``yes_ids`` / ``no_ids`` are resolved from the tokenizer.

See ``tubescope.engine.backends.qwen2_vl`` for a complete adapter.

Adding a model family
---------------------
For a transformers model, add one module to this package with a subclass of
:class:`tubescope.engine.backends.adapter.TransformersBackend`. The base provides ``prompt``
(from a ``ChatTemplate``), ``prefill`` (shared-prefix KV cache, row attention capture,
gradients to the visual prompt), the frozen model and the yes/no ids; the adapter implements
``_make_template`` and ``_encode_frames`` (plus ``_position_ids`` for M-RoPE models,
``_placeholder_counts`` for per-frame placeholders, ``_group_seconds`` for printed times, and an
``extra["layer_embeds"]`` for DeepStack features, :attr:`VisualTokens.layer_embeds`) and
declares its family in its class body::

    class MyVLBackend(LlavaVideoBackend):
        family = "my-vl"                         # family=..., presets, tubescope demo --family
        model_types = ("my_vl",)                 # config.json model_type values it loads
        model_class_name = "MyVLForConditionalGeneration"  # in transformers
        paper = PaperSettings(                   # the official code's settings, or None
            num_frames=20, resolution=336, token_offset=-3,
            backend_options={"pool_stride": 5}, datasets={"hcstvg-v1": {"lra_steps": 1}},
        )
        tiny = TinyRecipe(                       # the tiny test checkpoint, or None
            specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<video>"),
            named_tokens={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
            chat_template=CHATML_CHAT_TEMPLATE,
            files=_tiny_files,  # TinySpec -> {"config.json": {...}, "preprocessor_config.json": {...}}
            like=_like_files,   # the same from real files (TinySpec.real): save_tiny_model(like=...)
        )

An adapter whose preprocessing crops or pads the frame also overrides ``frame_view`` (the part
of the frame the token grid covers, :attr:`VisualTokens.view`); text generation for the MLLM
decomposer (``generate_text``) comes with the base class.

Defining the class registers it (:mod:`tubescope.engine.backends.families`, where
``PaperSettings`` and ``TinyRecipe`` are documented); nothing else lists families:
``load_backend`` and ``detect_family`` find it from ``config.json``, ``preset("paper", family)``
reads ``paper``, :func:`tubescope.testing.save_tiny_model`, ``TINY_FAMILIES`` and
``tubescope demo --family`` read ``tiny``, and the backend tests (every test parametrised by
family, the end-to-end family tests) run on its tiny checkpoint. A family name or model type
that is already registered fails at import with a ``FamilyError``. Real examples:
``qwen2_vl`` (a complete adapter), ``llava_onevision`` and ``qwen3_vl`` (timestamped blocks,
DeepStack).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from tubescope.engine.geometry import FULL_VIEW, check_view

if TYPE_CHECKING:
    import torch

__all__ = ["TokenLayout", "VisualTokens", "Prompt", "PrefillOutput", "Backend"]


@dataclass(frozen=True)
class TokenLayout:
    """Where each visual token of a video sits: temporal group, row and column, or newline.

    The visual span of the LLM sequence holds ``num_tokens`` tokens. Grid tokens cover one
    temporal *group* of input frames (Qwen's 2-frame temporal patches put two frames in a group;
    most models have one frame per group) and one ``(row, col)`` cell. Newline tokens carry no
    position and are skipped by every map.

    Attributes:
        num_frames: input frames ``F``.
        groups, rows, cols: the token grid.
        grid_index: ``(num_tokens,)``; flat grid index ``g * rows * cols + r * cols + c`` of
            each token, ``-1`` for newline tokens.
        group_of_frame: ``(F,)``; the temporal group that holds each input frame.

    Example:
        >>> layout = TokenLayout.regular(num_frames=4, groups=2, rows=2, cols=3)
        >>> layout.num_tokens, layout.group_of_frame.tolist()
        (12, [0, 0, 1, 1])
        >>> layout.to_frames(np.arange(12.0)).shape
        (4, 2, 3)
    """

    num_frames: int
    groups: int
    rows: int
    cols: int
    grid_index: np.ndarray
    group_of_frame: np.ndarray

    def __post_init__(self) -> None:
        grid = np.asarray(self.grid_index, dtype=np.int64)
        frames = np.asarray(self.group_of_frame, dtype=np.int64)
        cells = self.groups * self.rows * self.cols
        used = np.sort(grid[grid >= 0])
        if not np.array_equal(used, np.arange(cells)):
            raise ValueError(f"grid_index must use every cell of {self.groups}x{self.rows}x{self.cols} once")
        if frames.shape != (self.num_frames,) or (frames < 0).any() or (frames >= self.groups).any():
            raise ValueError(f"group_of_frame must map {self.num_frames} frames to groups [0, {self.groups})")
        grid.setflags(write=False)
        frames.setflags(write=False)
        object.__setattr__(self, "grid_index", grid)
        object.__setattr__(self, "group_of_frame", frames)

    @classmethod
    def regular(
        cls,
        num_frames: int,
        groups: int,
        rows: int,
        cols: int,
        *,
        trailing_newlines: int = 0,
        group_of_frame: Sequence[int] | None = None,
    ) -> TokenLayout:
        """Row-major grid tokens ``(groups, rows, cols)`` followed by ``trailing_newlines`` tokens.

        ``group_of_frame`` defaults to consecutive frames split evenly over the groups
        (``frame * groups // num_frames``).
        """
        cells = groups * rows * cols
        grid = np.concatenate([np.arange(cells), -np.ones(trailing_newlines, dtype=np.int64)])
        if group_of_frame is None:
            group_of_frame = np.arange(num_frames) * groups // num_frames
        return cls(num_frames, groups, rows, cols, grid, np.asarray(group_of_frame))

    @property
    def num_tokens(self) -> int:
        return int(len(self.grid_index))

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return self.groups, self.rows, self.cols

    @property
    def grid_positions(self) -> np.ndarray:
        """Token positions (within the visual span) of the grid cells, in flat grid order."""
        positions = np.empty(self.groups * self.rows * self.cols, dtype=np.int64)
        tokens = np.nonzero(self.grid_index >= 0)[0]
        positions[self.grid_index[tokens]] = tokens
        return positions

    def to_grid(self, values: Any) -> Any:
        """``(..., num_tokens)`` -> ``(..., groups, rows, cols)``; newline tokens dropped.

        Works on numpy arrays and torch tensors alike.
        """
        picked = values[..., self.grid_positions]
        return picked.reshape(*picked.shape[:-1], self.groups, self.rows, self.cols)

    def to_frames(self, values: Any) -> Any:
        """``(..., num_tokens)`` -> ``(..., num_frames, rows, cols)``: each frame gets its group's cells."""
        grid = self.to_grid(values)
        return grid[..., self.group_of_frame, :, :]

    def reverse_permutation(self) -> np.ndarray:
        """Token order that reverses the temporal groups and keeps newline tokens where they are.

        ``reversed_tokens = tokens[perm]``; cell ``(g, r, c)`` of the result holds cell
        ``(groups - 1 - g, r, c)`` of the original.
        """
        perm = np.arange(self.num_tokens)
        positions = self.grid_positions.reshape(self.groups, -1)
        perm[positions.reshape(-1)] = positions[::-1].reshape(-1)
        return perm


@dataclass(frozen=True)
class VisualTokens:
    """A video encoded once: visual embeddings in the LLM input space and their layout.

    Attributes:
        embeds: ``(num_tokens, hidden)`` tensor on the model's device and dtype, no grad.
        layout: where each token sits.
        frame_indices: the video frames that were encoded, ``(num_frames,)``.
        reversed: True for the frame-reversed copy made by :meth:`reversed_frames`.
        extra: backend-private data (grid sizes, rope inputs, ...).
        view: the part of the input frames the token grid covers, ``(x0, y0, x1, y1)`` in
            fractions of the frame's width and height (see :mod:`tubescope.engine.geometry`):
            ``(0, 0, 1, 1)`` when the whole frame is resized onto the grid; a centre crop of a
            16:9 frame to a square is ``(0.21875, 0, 0.78125, 1)``; padding extends past 0..1.
        layer_embeds: ``(K, num_tokens, hidden)`` features the language model adds to its hidden
            states at the visual positions after each of its first ``K`` decoder layers
            (Qwen3-VL's DeepStack: features of intermediate vision layers), or None; they are
            part of the tokens, so :meth:`reversed_frames` reverses them too.
    """

    embeds: torch.Tensor
    layout: TokenLayout
    frame_indices: np.ndarray
    reversed: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    view: tuple[float, float, float, float] = FULL_VIEW
    layer_embeds: torch.Tensor | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "view", check_view(self.view))
        if self.embeds.ndim != 2 or self.embeds.shape[0] != self.layout.num_tokens:
            raise ValueError(
                f"embeds must be (num_tokens={self.layout.num_tokens}, hidden), got {tuple(self.embeds.shape)}"
            )
        layers = self.layer_embeds
        if layers is not None and (layers.ndim != 3 or layers.shape[1] != self.layout.num_tokens):
            raise ValueError(
                f"layer_embeds must be (layers, num_tokens={self.layout.num_tokens}, hidden), "
                f"got {tuple(layers.shape)}"
            )
        if len(self.frame_indices) != self.layout.num_frames:
            raise ValueError(f"{len(self.frame_indices)} frame indices for {self.layout.num_frames} frames")

    @property
    def num_tokens(self) -> int:
        return self.layout.num_tokens

    def reversed_frames(self) -> VisualTokens:
        """The same tokens with the temporal groups in reverse order (no re-encoding).

        Newline tokens keep their positions; :attr:`layer_embeds` are permuted with the
        tokens. Position ids are not changed, so the model sees the video played backwards.
        Maps computed on the result are put back in the original order with
        :func:`unreverse_grid`.
        """
        import torch

        perm = torch.as_tensor(self.layout.reverse_permutation(), device=self.embeds.device)
        layers = None if self.layer_embeds is None else self.layer_embeds[:, perm]
        return replace(
            self, embeds=self.embeds[perm], layer_embeds=layers, reversed=not self.reversed
        )


def unreverse_grid(grid: Any) -> Any:
    """Flip a ``(..., groups, rows, cols)`` grid computed on reversed tokens back to video order."""
    import torch

    if isinstance(grid, torch.Tensor):
        return torch.flip(grid, dims=(-3,))
    return np.flip(grid, axis=-3)


@dataclass(frozen=True)
class Prompt:
    """One chat-templated question with the video placeholder expanded.

    Attributes:
        question: the question text.
        input_ids: ``(length,)`` token ids; the visual positions hold placeholder ids.
        visual_start: position of the first visual token.
        num_visual: number of visual tokens.
        candidates: positions of the candidate grounding tokens, in prompt order.
        candidate_tokens: their token strings (for reporting which one was used).
        visual_positions: the positions of the visual tokens, in visual-token order, when the
            template interleaves text between frames (``"Frame1: <img>...</img>"``, per-frame
            timestamps); ``None`` means one contiguous span
            ``[visual_start, visual_start + num_visual)``.
    """

    question: str
    input_ids: torch.Tensor
    visual_start: int
    num_visual: int
    candidates: tuple[int, ...]
    candidate_tokens: tuple[str, ...]
    visual_positions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.visual_positions is not None:
            positions = tuple(int(p) for p in self.visual_positions)
            if len(positions) != self.num_visual or not positions or positions[0] != self.visual_start:
                raise ValueError(
                    f"visual_positions must list {self.num_visual} positions starting at {self.visual_start}"
                )
            if any(b <= a for a, b in zip(positions, positions[1:], strict=False)):
                raise ValueError("visual_positions must increase")
            object.__setattr__(self, "visual_positions", positions)

    @property
    def visual_end(self) -> int:
        """One past the last visual token (text between frames, if any, lies inside)."""
        if self.visual_positions is not None:
            return self.visual_positions[-1] + 1
        return self.visual_start + self.num_visual

    @property
    def visual_index(self) -> tuple[int, ...]:
        """The positions of all visual tokens, in visual-token order."""
        if self.visual_positions is not None:
            return self.visual_positions
        return tuple(range(self.visual_start, self.visual_start + self.num_visual))

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[-1])


@dataclass(frozen=True)
class PrefillOutput:
    """What one prefill forward of one question returns.

    Attributes:
        logits: ``(vocab,)`` next-token logits at the last prompt position; attached to the
            graph when the visual prompt requires grad.
        attention: ``(len(rows), num_visual)`` attention of each requested row over the
            visual tokens, averaged over heads and the requested layers, or
            ``(layers, len(rows), num_visual)`` with ``per_layer=True``; detached, float32.
        rows: the requested prompt positions, in order.
        row_tokens: their token strings.
    """

    logits: torch.Tensor
    attention: torch.Tensor
    rows: tuple[int, ...]
    row_tokens: tuple[str, ...]


@runtime_checkable
class Backend(Protocol):
    """A multimodal LLM adapter (see the module docstring, "Adding a backend")."""

    #: family name, e.g. ``"qwen2-vl"``.
    family: str
    #: the checkpoint it was loaded from.
    model_id: str
    #: number of decoder layers of the language model.
    num_layers: int
    #: token ids of "yes" and "no" (lower-case variants first, as the official code uses).
    yes_ids: tuple[int, ...]
    no_ids: tuple[int, ...]

    def encode(self, frames: np.ndarray, frame_indices: Sequence[int] | None = None) -> VisualTokens:
        """Run the vision tower and projector once on ``(F, H, W, 3)`` uint8 RGB frames."""
        ...

    def prompt(self, question: str, visual: VisualTokens) -> Prompt:
        """Chat-template ``question`` after the video placeholder of ``visual``."""
        ...

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
        """One forward per question, sharing the video prefix between them.

        ``visual_prompt`` (``(num_tokens, hidden)``) is added to the visual embeddings.
        ``rows`` are positions counted from the end of each prompt (``-1`` is the last token);
        ``None`` means the prompt's candidate grounding tokens. ``layers`` are decoder layer
        indices (``None``: all).
        """
        ...
