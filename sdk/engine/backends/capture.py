"""Attention of a few query rows over the visual tokens, without materialising N x N attentions.

:func:`install` registers :data:`ATTENTION_NAME` with transformers' ``AttentionInterface`` (and
the matching SDPA mask builder with ``AttentionMaskInterface``) and switches a model's language
model to it; the vision tower keeps its own implementation. The registered function always
computes the layer output with PyTorch SDPA, so a forward with nothing to capture is a plain
SDPA forward. Inside :func:`capturing`, for the requested layers and rows only, it also computes

    softmax(q_rows · kᵀ · scaling + mask)   over all keys (post-RoPE q and k; with GQA each
                                            key head serves its group of query heads)

in float32, keeps the columns of the visual tokens, averages the heads and stores the result:
``(rows, N)`` per layer. The transient memory is ``heads x rows x keys`` per layer and the stored
memory ``layers x rows x N``, instead of ``layers x heads x keys²`` for eager
``output_attentions=True``. The rows are computed without gradient (attention maps are read-only
for the engine); the SDPA output keeps its gradient.

Query positions are absolute positions in the prompt: a forward that continues a KV cache of
``P`` tokens has queries ``P .. P + q_len - 1`` (``P = keys - queries``).

Example:
    >>> import torch
    >>> from tubescope.engine.backends.capture import RowCapture, capturing
    >>> cap = RowCapture(layers=(0,), rows=(5,), columns=(0, 3))
    >>> with capturing(cap):
    ...     pass  # run model forwards here
    >>> cap.result()
    Traceback (most recent call last):
    ...
    RuntimeError: nothing was captured for layers [0] rows [5]: did the forward run inside capturing()?
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["ATTENTION_NAME", "RowCapture", "capturing", "install", "row_attention"]

#: name under which the capturing attention function is registered with transformers.
ATTENTION_NAME = "tubescope_rows"

_ACTIVE: contextvars.ContextVar[RowCapture | None] = contextvars.ContextVar(
    "tubescope_row_capture", default=None
)
_REGISTERED = False


@dataclass
class RowCapture:
    """What to capture in the next forwards, and what was captured.

    Attributes:
        layers: decoder layer indices to capture.
        rows: absolute prompt positions of the query rows, in the order results are returned.
        columns: key positions kept (the visual tokens, in visual-token order): a
            ``(start, end)`` span or a sequence of positions.
        captured: ``layer -> {row position -> (N,) float32}``, filled by the forwards.
    """

    layers: Sequence[int]
    rows: Sequence[int]
    columns: tuple[int, int] | Sequence[int] | torch.Tensor
    captured: dict[int, dict[int, torch.Tensor]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._layer_set = frozenset(int(layer) for layer in self.layers)
        self._rows = torch.as_tensor([int(r) for r in self.rows], dtype=torch.long)
        columns = self.columns
        if (
            isinstance(columns, tuple)
            and len(columns) == 2
            and all(isinstance(c, int) for c in columns)
        ):
            self._columns: slice | torch.Tensor = slice(columns[0], columns[1])
        else:
            self._columns = torch.as_tensor(columns, dtype=torch.long)

    def wants(self, layer: int | None) -> bool:
        return layer is not None and layer in self._layer_set

    def store(self, layer: int, positions: torch.Tensor, values: torch.Tensor) -> None:
        per_layer = self.captured.setdefault(layer, {})
        for position, value in zip(positions.tolist(), values, strict=True):
            per_layer[int(position)] = value

    def result(self, rows: Sequence[int] | None = None, per_layer: bool = False) -> torch.Tensor:
        """``(len(rows), N)`` averaged over the captured layers, or ``(layers, len(rows), N)``.

        ``rows`` defaults to :attr:`rows`; every requested (layer, row) must have been captured.
        """
        rows = list(self.rows if rows is None else rows)
        stacks = []
        for layer in self.layers:
            captured = self.captured.get(int(layer), {})
            missing = [r for r in rows if r not in captured]
            if missing:
                raise RuntimeError(
                    f"nothing was captured for layers {list(self.layers)} rows {missing}: "
                    "did the forward run inside capturing()?"
                )
            stacks.append(torch.stack([captured[r] for r in rows]))
        out = torch.stack(stacks)
        return out if per_layer else out.mean(0)


@contextlib.contextmanager
def capturing(capture: RowCapture) -> Iterator[RowCapture]:
    """Make ``capture`` the active capture for forwards run inside the block."""
    token = _ACTIVE.set(capture)
    try:
        yield capture
    finally:
        _ACTIVE.reset(token)


def row_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    attention_mask: torch.Tensor | None,
    local_rows: torch.Tensor,
    scaling: float,
    key_groups: int,
) -> torch.Tensor:
    """Softmax attention probabilities of ``local_rows`` of ``query`` over all keys.

    Args:
        query: ``(B, H, Q, D)`` post-RoPE queries of this forward.
        key: ``(B, H_kv, K, D)`` post-RoPE keys (cache included); ``K >= Q``.
        attention_mask: ``None`` (causal), boolean ``(B, 1, Q, K)`` (True = attend) or additive
            float ``(B, 1|H, Q, K)``, as transformers passes it to SDPA.
        local_rows: ``(R,)`` row indices into the ``Q`` queries.
        scaling: the softmax scale.
        key_groups: query heads per key head (GQA).

    Returns:
        ``(B, H, R, K)`` float32 probabilities.
    """
    batch, heads, _, dim = query.shape
    rows = local_rows.numel()
    # GQA without repeating the keys: query heads j*G .. j*G+G-1 share key head j.
    q = query[:, :, local_rows].float().reshape(batch, heads // key_groups, key_groups * rows, dim)
    scores = torch.matmul(q, key.float().transpose(-1, -2)) * scaling
    scores = scores.reshape(batch, heads, rows, key.shape[-2])
    q_len, k_len = query.shape[-2], key.shape[-2]
    if attention_mask is None:
        absolute = local_rows.to(key.device) + (k_len - q_len)
        allowed = torch.arange(k_len, device=key.device)[None, :] <= absolute[:, None]
        scores = scores.masked_fill(~allowed[None, None], float("-inf"))
    else:
        if attention_mask.shape[-1] != k_len:
            raise ValueError(
                f"attention mask covers {attention_mask.shape[-1]} keys, the layer has {k_len}"
            )
        mask = attention_mask[..., local_rows.to(attention_mask.device), :]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.float()
    return torch.softmax(scores, dim=-1)


def _capture_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    capture = _ACTIVE.get()
    layer = getattr(module, "layer_idx", None)
    if capture is not None and capture.wants(layer):
        if kwargs.get("softcap") is not None or kwargs.get("s_aux") is not None:
            raise NotImplementedError(
                "row attention capture does not support softcapping or attention sinks "
                f"({type(module).__name__})"
            )
        q_len, k_len = query.shape[-2], key.shape[-2]
        start = k_len - q_len
        rows = capture._rows
        inside = (rows >= start) & (rows < k_len)
        if bool(inside.any()):
            positions = rows[inside]
            local = (positions - start).to(query.device)
            scale = float(scaling) if scaling is not None else query.shape[-1] ** -0.5
            groups = query.shape[1] // key.shape[1]
            with torch.no_grad():
                probs = row_attention(
                    query.detach(), key.detach(), attention_mask, local, scale, groups
                )
                cols = capture._columns
                if isinstance(cols, torch.Tensor):
                    cols = cols.to(probs.device)
                kept = probs[0, :, :, cols].mean(0)  # (R, N): heads averaged
            capture.store(int(layer), positions, kept)
    return sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )


def register() -> None:
    """Register :data:`ATTENTION_NAME` with transformers (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTENTION_NAME, _capture_attention)
    # Masks are built as for SDPA (boolean, or None for a plain causal prefill).
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, sdpa_mask)
    _REGISTERED = True


def install(model: Any, sub_config: str = "text_config") -> None:
    """Switch ``model``'s language model (the ``sub_config`` part) to the capturing attention."""
    register()
    model.set_attn_implementation({sub_config: ATTENTION_NAME})
    text_config = getattr(model.config, sub_config, None)
    if text_config is None or getattr(text_config, "_attn_implementation", None) != ATTENTION_NAME:
        raise RuntimeError(
            f"could not switch {type(model).__name__}.{sub_config} "
            f"to the {ATTENTION_NAME!r} attention implementation"
        )
