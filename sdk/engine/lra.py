"""LRA: logit-guided re-attention, a test-time additive visual prompt learned from yes/no logits.

A zero-initialised prompt ``V`` shaped like the visual embeddings is added to them; plain
gradient steps (no optimiser state) move it to raise the model's "yes" over "no" for the
sub-query question (research/method.md §9):

* ``loss="code"``: ``1 - s(question) + s(caption)`` with ``s = z_yes - z_no`` (the official
  code; both questions share the prompt and the video prefix);
* ``loss="paper"``: ``-exp(s(question))`` (the paper's Alg. 1).

The prompt that is returned is an EMA of the iterates, ``V_ema <- beta * V + (1 - beta) * V_ema``
starting from zero, so one step with lr 8 and beta 0.5 gives ``-4 * grad`` as in the code.
The model is never updated: gradients are taken with :func:`torch.autograd.grad` with respect
to ``V`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from tubescope.engine.backends.base import Backend, VisualTokens

__all__ = ["LRAResult", "learn_visual_prompt", "yes_no_margin"]


def yes_no_margin(logits: torch.Tensor, yes_ids: tuple[int, ...], no_ids: tuple[int, ...]) -> torch.Tensor:
    """``z_yes - z_no`` from the first (lower-case) ids, as the official code reads them."""
    return logits[..., yes_ids[0]] - logits[..., no_ids[0]]


@dataclass
class LRAResult:
    """The learned prompt and what it took; ``initial_margin`` is the unprompted yes-no margin."""

    prompt: torch.Tensor
    initial_margin: float
    forward_passes: int
    backward_passes: int
    losses: list[float]


def learn_visual_prompt(
    backend: Backend,
    visual: VisualTokens,
    question: str,
    caption: str,
    *,
    steps: int,
    lr: float,
    beta: float,
    loss: str = "code",
    on_step: Callable[[int, float], None] | None = None,
) -> LRAResult:
    """Learn an additive visual prompt that raises the yes-no margin of ``question``.

    Returns the EMA prompt and the question's margin before the first step (the model's
    unprompted answer, used as a confidence).
    """
    if loss not in ("code", "paper"):
        raise ValueError(f"loss must be 'code' or 'paper', got {loss!r}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    embeds = visual.embeds
    current = torch.zeros(embeds.shape, dtype=embeds.dtype, device=embeds.device, requires_grad=True)
    ema = torch.zeros_like(current, requires_grad=False)
    questions = [caption, question] if loss == "code" else [question]
    losses: list[float] = []
    initial = float("nan")
    forwards = backwards = 0
    for step in range(steps):
        outputs = backend.prefill(visual, questions, visual_prompt=current, rows=[-1])
        forwards += len(questions)
        margins = [yes_no_margin(o.logits, backend.yes_ids, backend.no_ids) for o in outputs]
        if step == 0:
            initial = float(margins[-1].detach())
        value = 1 - margins[1] + margins[0] if loss == "code" else -torch.exp(margins[0])
        (grad,) = torch.autograd.grad(value, current)
        backwards += 1
        losses.append(float(value.detach()))
        with torch.no_grad():
            current = (current - lr * grad).detach().requires_grad_(True)
            ema = beta * current.detach() + (1 - beta) * ema
        if on_step is not None:
            on_step(step, losses[-1])
    return LRAResult(ema.detach(), initial, forwards, backwards, losses)
