"""Prefill planning: which part of several prompts is shared, and how a KV cache is reused.

Several questions about the same video share everything up to (at least) the end of the video:
the system turn, the user role and the visual tokens. :func:`shared_prefix_length` finds that
common prefix; the adapter runs it once with ``use_cache=True`` and each question's suffix
against :func:`fork_cache` of the result. Forking builds a new ``DynamicCache`` whose layers
start from the prefix key/value tensors themselves (no copy; the suffix forward concatenates
onto a new tensor, so the prefix cache is never modified), which keeps the autograd graph: the
logits of every question backpropagate through the single prefix forward.

Example:
    >>> shared_prefix_length([[1, 2, 3, 4], [1, 2, 5, 6, 7]])
    2
    >>> shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]])  # every prompt keeps >= 1 own token
    2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["shared_prefix_length", "fork_cache", "resolve_rows", "resolve_layers"]


def shared_prefix_length(id_lists: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix, capped so that every prompt keeps one own token."""
    if not id_lists:
        return 0
    shortest = min(len(ids) for ids in id_lists)
    length = 0
    first = id_lists[0]
    while length < shortest - 1 and all(ids[length] == first[length] for ids in id_lists[1:]):
        length += 1
    return length


def fork_cache(cache: Any) -> Any:
    """A new ``DynamicCache`` whose layers start from ``cache``'s key/value tensors (not copied).

    The next forward concatenates its keys onto a new tensor, so ``cache`` is never modified and
    several forks of one prefix cache can run one after the other (and backpropagate into it).
    """
    from transformers import DynamicCache

    layers = list(cache.layers)
    fork = DynamicCache(
        ddp_cache_data=[(layer.keys[..., :0, :], layer.values[..., :0, :]) for layer in layers]
    )
    for mine, theirs in zip(fork.layers, layers, strict=True):
        mine.keys, mine.values = theirs.keys, theirs.values
    return fork


def resolve_rows(
    rows: Sequence[int] | None, length: int, candidates: Sequence[int]
) -> tuple[int, ...]:
    """Absolute prompt positions of ``rows`` (offsets from the end; ``None`` -> ``candidates``)."""
    if rows is None:
        return tuple(int(c) for c in candidates)
    out = []
    for r in rows:
        r = int(r)
        if not -length <= r <= -1:
            raise ValueError(
                f"row offset {r} is outside [-{length}, -1] for a prompt of {length} tokens"
            )
        out.append(length + r)
    if not out:
        raise ValueError(
            "rows is empty: request at least one row or pass None for the candidate tokens"
        )
    return tuple(out)


def resolve_layers(layers: Sequence[int] | None, num_layers: int) -> tuple[int, ...]:
    """Decoder layer indices (negative counts from the end; ``None`` -> all)."""
    if layers is None:
        return tuple(range(num_layers))
    out = []
    for layer in layers:
        layer = int(layer)
        if not -num_layers <= layer < num_layers:
            raise ValueError(f"layer {layer} is outside the model's {num_layers} decoder layers")
        out.append(layer % num_layers)
    if not out:
        raise ValueError("layers is empty: request at least one layer or pass None for all")
    return tuple(out)
