"""Relative attention maps and the choice of the grounding token.

``R = A(question) / (A(caption) + eps)``, element-wise over the visual tokens, for every
candidate grounding token (docs/method.md, section 3). The grounding token is then chosen per
sample (the paper's rule: the candidate whose relative map peaks highest), fixed, or all
candidates are averaged (the paper's baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["relative_attention", "TokenChoice", "choose_token"]


def relative_attention(question: torch.Tensor, caption: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """``question / (caption + eps)`` for attention rows over the same visual tokens.

    Both are ``(candidates, num_visual)``; candidates are paired by position (the same
    template token of each prompt).

    Example:
        >>> relative_attention(torch.tensor([[0.2, 0.4]]), torch.tensor([[0.1, 0.4]]), eps=0.0)
        tensor([[2., 1.]])
    """
    if question.shape != caption.shape:
        raise ValueError(
            f"question and caption attention differ in shape: {tuple(question.shape)} vs {tuple(caption.shape)}"
        )
    return question.float() / (caption.float() + eps)


@dataclass(frozen=True)
class TokenChoice:
    """Which candidate(s) produced the map: an index into the candidates, or None for the mean."""

    index: int | None
    token: str
    peaks: tuple[float, ...]


def choose_token(relative: torch.Tensor, tokens: tuple[str, ...], rule: str, index: int | None = None) -> tuple[torch.Tensor, TokenChoice]:
    """Reduce per-candidate relative maps ``(candidates, ...)`` to one map.

    ``rule="adaptive"``: the candidate whose map has the highest maximum (first on ties);
    ``"fixed"``: the single row that was asked for; ``"mean"``: the average. An explicit
    ``index`` overrides the rule.

    Example:
        >>> maps = torch.tensor([[1.0, 2.0], [0.5, 9.0]])
        >>> choose_token(maps, ("a", "b"), "adaptive")[1].token
        'b'
    """
    if relative.shape[0] != len(tokens) or not len(tokens):
        raise ValueError(f"{relative.shape[0]} maps for {len(tokens)} candidate tokens")
    peaks = tuple(float(v) for v in relative.reshape(relative.shape[0], -1).max(dim=1).values)
    if index is None and rule == "adaptive":
        index = max(range(len(peaks)), key=lambda i: (peaks[i], -i))
    if index is None and rule == "fixed":
        if len(tokens) != 1:
            raise ValueError(f"the fixed rule expects one attention row, got {len(tokens)}")
        index = 0
    if index is not None:
        return relative[index], TokenChoice(index, tokens[index], peaks)
    if rule != "mean":
        raise ValueError(f"unknown token rule {rule!r}")
    return relative.mean(dim=0), TokenChoice(None, "mean(" + ", ".join(tokens) + ")", peaks)
