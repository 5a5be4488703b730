"""A backend whose attention maps and yes/no logits the tests plant.

Attention is planted per question *in content order* (as if over the original token order);
when the engine hands it frame-reversed tokens, the stub returns the planted map permuted the
same way the tokens were, so a correct engine must un-flip it. ``reversed_plants`` lets a test
plant a different map for the reversed pass. The yes-no margin of a question is
``base[question] + sum(visual_prompt * direction)``, so its gradient is known exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tubescope.engine.backends.base import PrefillOutput, Prompt, TokenLayout, VisualTokens

CANDIDATES = ("<|im_end|>", "\n", "<|im_start|>", "assistant", "\n")


class StubBackend:
    family = "stub"
    model_id = "stub-model"
    num_layers = 4
    yes_ids = (5,)
    no_ids = (6,)

    def __init__(self, groups: int, rows: int, cols: int, *, frames_per_group: int = 1, hidden: int = 8,
                 newline: bool = False) -> None:
        self.groups, self.rows, self.cols = groups, rows, cols
        self.frames_per_group = frames_per_group
        self.hidden = hidden
        self.newline = newline
        self.plants: dict[str, np.ndarray] = {}
        self.reversed_plants: dict[str, np.ndarray] = {}
        self.base_margin: dict[str, float] = {}
        #: how strongly the visual prompt moves each question's margin (default 1)
        self.sensitivity: dict[str, float] = {}
        self.direction = torch.linspace(-1, 1, self.num_tokens * hidden).reshape(self.num_tokens, hidden)
        self.calls: list[tuple[tuple[str, ...], bool, bool]] = []
        self.encodes = 0
        self.layers_seen: list[Sequence[int] | None] = []

    @property
    def num_tokens(self) -> int:
        return self.groups * self.rows * self.cols + (1 if self.newline else 0)

    def layout(self, num_frames: int) -> TokenLayout:
        return TokenLayout.regular(
            num_frames, self.groups, self.rows, self.cols, trailing_newlines=1 if self.newline else 0,
            group_of_frame=np.arange(num_frames) // self.frames_per_group,
        )

    # planting -----------------------------------------------------------------
    def plant(self, question: str, grid: np.ndarray, *, reversed_grid: np.ndarray | None = None,
              margin: float = 0.0) -> None:
        """``grid`` is ``(candidates, groups, rows, cols)`` or ``(groups, rows, cols)`` (all candidates alike)."""
        self.plants[question] = self._tokens(grid)
        if reversed_grid is not None:
            self.reversed_plants[question] = self._tokens(reversed_grid)
        self.base_margin[question] = margin

    def _tokens(self, grid: np.ndarray) -> np.ndarray:
        grid = np.asarray(grid, dtype=np.float32)
        if grid.ndim == 3:
            grid = np.repeat(grid[None], len(CANDIDATES), axis=0)
        flat = grid.reshape(grid.shape[0], -1)
        if self.newline:
            flat = np.concatenate([flat, np.full((flat.shape[0], 1), 0.5, np.float32)], axis=1)
        return flat

    # protocol -----------------------------------------------------------------
    def encode(self, frames: np.ndarray, frame_indices: Sequence[int] | None = None) -> VisualTokens:
        self.encodes += 1
        layout = self.layout(len(frames))
        indices = np.arange(len(frames)) if frame_indices is None else np.asarray(frame_indices)
        embeds = torch.arange(self.num_tokens * self.hidden, dtype=torch.float32).reshape(self.num_tokens, self.hidden)
        return VisualTokens(embeds, layout, indices)

    def prompt(self, question: str, visual: VisualTokens) -> Prompt:
        length = 3 + visual.num_tokens + len(question.split()) + len(CANDIDATES)
        candidates = tuple(range(length - len(CANDIDATES), length))
        return Prompt(question, torch.zeros(length, dtype=torch.long), 3, visual.num_tokens, candidates, CANDIDATES)

    def prefill(self, visual, questions, *, visual_prompt=None, rows=None, layers=None, per_layer=False):
        self.calls.append((tuple(questions), visual.reversed, visual_prompt is not None))
        self.layers_seen.append(layers)
        outputs = []
        perm = visual.layout.reverse_permutation() if visual.reversed else np.arange(visual.num_tokens)
        for question in questions:
            prompt = self.prompt(question, visual)
            if rows is None:
                positions = prompt.candidates
                picked = list(range(len(CANDIDATES)))
            else:
                positions = tuple(prompt.length + r for r in rows)
                picked = [len(CANDIDATES) + r for r in rows]
            plants = self.reversed_plants if visual.reversed and question in self.reversed_plants else self.plants
            content = plants.get(question, np.full((len(CANDIDATES), visual.num_tokens), 1.0, np.float32))
            attention = torch.as_tensor(content[picked][:, perm])
            margin = torch.tensor(self.base_margin.get(question, 0.0))
            if visual_prompt is not None:
                margin = margin + self.sensitivity.get(question, 1.0) * (visual_prompt * self.direction).sum()
            logits = torch.zeros(10) + torch.nn.functional.one_hot(torch.tensor(5), 10) * margin
            outputs.append(PrefillOutput(logits, attention, positions, tuple(CANDIDATES[i] for i in picked)))
        return outputs
