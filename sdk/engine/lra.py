"""LRA: logit-guided re-attention, a test-time additive visual prompt learned from yes/no logits.

A zero-initialised prompt ``V`` shaped like the visual embeddings is added to them; plain
gradient steps (no optimiser state) move it to raise the model's "yes" over "no" for the
sub-query question (docs/method.md, "LRA"):

* ``loss="code"``: ``1 - s(question) + s(caption)`` with ``s = z_yes - z_no`` (the official
  code; both questions share the prompt and the video prefix);
* ``loss="paper"``: ``-exp(s(question))`` (the paper's Alg. 1).

The EMA with weight ``beta`` comes in two forms (``ema``):

* ``"official"`` — the official loop: the forward of step ``k`` runs at
  ``cur_k = beta * V_k + (1 - beta) * V_{k-1}`` (``cur_0 = V_0 = 0``), the gradient is taken
  with respect to ``V_k`` (so it is ``beta * grad L(cur_k)`` after the first step),
  ``V_{k+1} = V_k - lr * grad``, and the prompt used at inference is
  ``beta * V_N + (1 - beta) * V_{N-1}``. With lr 8 and beta 0.5: one step gives ``-4 * g0``,
  two give ``-8 * g0 - 2 * g1`` (``g1`` taken at ``-4 * g0``);
* ``"iterates"`` — forwards at the raw iterates ``V_k``, returned prompt
  ``V_ema <- beta * V + (1 - beta) * V_ema`` from zero: ``-4 * g0`` for one step,
  ``-6 * g0 - 4 * g1'`` (``g1'`` at ``-8 * g0``) for two.

The model is never updated: gradients are taken with :func:`torch.autograd.grad` with
respect to the prompt only.
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
    ema: str = "official",
    on_step: Callable[[int, float], None] | None = None,
) -> LRAResult:
    """Learn an additive visual prompt that raises the yes-no margin of ``question``.

    Returns the prompt used at inference (see the module docstring for ``ema``) and the
    question's margin before the first step (the model's unprompted answer, used as a
    confidence).
    """
    if loss not in ("code", "paper"):
        raise ValueError(f"loss must be 'code' or 'paper', got {loss!r}")
    if ema not in ("official", "iterates"):
        raise ValueError(f"ema must be 'official' or 'iterates', got {ema!r}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    embeds = visual.embeds
    iterate = torch.zeros(embeds.shape, dtype=embeds.dtype, device=embeds.device)
    previous = iterate
    average = torch.zeros_like(iterate)
    questions = [caption, question] if loss == "code" else [question]
    losses: list[float] = []
    initial = float("nan")
    forwards = backwards = 0
    for step in range(steps):
        if ema == "official" and step > 0:
            point = beta * iterate + (1 - beta) * previous
            chain = beta  # d point / d iterate: previous is an earlier, separate tensor
        else:
            point, chain = iterate, 1.0
        point = point.detach().requires_grad_(True)
        outputs = backend.prefill(visual, questions, visual_prompt=point, rows=[-1])
        forwards += len(questions)
        margins = [yes_no_margin(o.logits, backend.yes_ids, backend.no_ids) for o in outputs]
        if step == 0:
            initial = float(margins[-1].detach())
        value = 1 - margins[1] + margins[0] if loss == "code" else -torch.exp(margins[0])
        (grad,) = torch.autograd.grad(value, point)
        backwards += 1
        losses.append(float(value.detach()))
        with torch.no_grad():
            previous, iterate = iterate, iterate - lr * chain * grad
            average = beta * iterate + (1 - beta) * average
        if on_step is not None:
            on_step(step, losses[-1])
    prompt = beta * iterate + (1 - beta) * previous if ema == "official" else average
    return LRAResult(prompt.detach(), initial, forwards, backwards, losses)
