"""Load a multimodal LLM checkpoint as a backend: :func:`load_backend`.

Resolution order for ``name_or_path``:

1. an existing local directory: loaded as is, never touching the network;
2. a hub id with ``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE=1``): the local Hugging Face
   cache only;
3. a hub id otherwise: one quick reachability probe of the hub endpoint (``HF_ENDPOINT``,
   ``TUBESCOPE_HUB_TIMEOUT`` seconds, default 3, no retries); reachable -> download what is
   missing (``snapshot_download``); unreachable -> the local cache only.

Whatever fails ends in :class:`~tubescope.errors.ModelUnavailableError` naming the model, what
was tried, and how to make it available. The family is detected from ``config.json``'s
``model_type`` through the family registry (:mod:`.families`); the preprocessing fields come from ``preprocessor_config.json`` /
``video_preprocessor_config.json`` read as plain JSON (transformers' processors need torchvision).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from tubescope.engine.backends.families import (
    BackendOptionError,
    adapter_class,
    adapter_classes,
    adapter_for,
)
from tubescope.errors import ModelUnavailableError, ValidationError
from tubescope.jsonio import read_json
from tubescope.hub import resolve_checkpoint  # re-exported: checkpoint resolution lives in tubescope.hub

__all__ = [
    "load_backend",
    "detect_family",
    "adapter_for",
    "adapter_classes",
    "resolve_checkpoint",
    "resolve_device",
    "resolve_dtype",
]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> ``cuda`` when available, else ``cpu``; anything else must exist here.

    Raises:
        ValidationError: ``device`` is not a device name torch knows, or this machine does not
            have it (the message names the value and the devices that are available).

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> try:
        ...     resolve_device("tpu")
        ... except ValidationError as err:
        ...     print(str(err).split(";")[0])
        device 'tpu': not a device name torch knows
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    available = ["cpu"]
    if torch.cuda.is_available():
        available += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        available.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        available += [f"xpu:{i}" for i in range(xpu.device_count())]
    where = f"device {device!r}"
    choices = f"available here: auto, {', '.join(available)}"
    try:
        resolved = torch.device(str(device).strip())
    except (RuntimeError, ValueError, TypeError):
        raise ValidationError(f"not a device name torch knows; {choices}", where) from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValidationError(f"requested but CUDA is not available on this machine; {choices}", where)
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValidationError(f"this machine has {torch.cuda.device_count()} CUDA device(s); {choices}", where)
        return resolved
    if resolved.type == "mps" and "mps" in available:
        return resolved
    if resolved.type == "xpu" and any(name.startswith("xpu") for name in available):
        return resolved
    raise ValidationError(f"this machine cannot load a model on {resolved.type!r}; {choices}", where)


_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``"auto"`` -> bfloat16 on CUDA (float16 where bf16 is unsupported), float32 on CPU.

    Raises:
        ValidationError: ``dtype`` is not one of the names below (the message lists them).

    Example:
        >>> resolve_dtype("bf16", torch.device("cpu"))
        torch.bfloat16
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return _DTYPES[str(dtype).strip().lower()]
    except KeyError:
        raise ValidationError(
            f"not a dtype tubescope loads models in; use auto, float32, bfloat16 or float16 "
            f"(or {', '.join(sorted(set(_DTYPES) - {'float32', 'bfloat16', 'float16'}))})",
            f"dtype {dtype!r}",
        ) from None


def _read_config(directory: Path, model_id: str) -> dict[str, Any]:
    path = directory / "config.json"
    config = read_json(path, lambda problem: ModelUnavailableError(f"{model_id}: {path}: {problem}"))
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelUnavailableError(f"{model_id}: {path} has no 'model_type' field")
    return config


def detect_family(name_or_path: str | os.PathLike[str]) -> str:
    """The adapter family of a checkpoint (``"qwen2-vl"``, ...), from its ``config.json``.

    Resolves the checkpoint like :func:`load_backend` (so it may download it) but loads no weights.

    Raises:
        ModelUnavailableError: the checkpoint is unavailable or its family unsupported.
    """
    model_id = os.fspath(name_or_path)
    config = _read_config(resolve_checkpoint(name_or_path), model_id)
    return str(adapter_for(str(config["model_type"]), model_id).family)


def load_backend(
    name_or_path: str | os.PathLike[str],
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    *,
    family: str | None = None,
    share_prefix: bool = True,
    **adapter_options: Any,
) -> Any:
    """Load a checkpoint and wrap it in its family's backend adapter.

    Args:
        name_or_path: a local checkpoint directory or a Hugging Face hub id.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda:0"``, ...
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU), ``"float32"``, ``"bfloat16"``,
            ``"float16"`` or a ``torch.dtype``.
        family: force an adapter (one of
            :func:`~tubescope.engine.backends.families.family_names`) instead of detecting it
            from ``config.json``.
        share_prefix: run the common prefix of several questions once per prefill.
        **adapter_options: family options, e.g. ``duplicate_frames=True`` (Qwen),
            ``pool_stride=5`` (LLaVA-OneVision), ``spatial_pool_stride=4`` (LLaVA-NeXT-Video).

    Returns:
        The backend (a :class:`~tubescope.engine.backends.base.Backend`).

    Raises:
        ModelUnavailableError: the checkpoint is neither local, cached nor downloadable, or its
            family is not supported.
        FamilyError: ``family`` is not a registered family.

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> from tubescope.testing import save_tiny_model
        >>> backend = load_backend(save_tiny_model("qwen2-vl", tempfile.mkdtemp()), device="cpu")
        >>> backend.family, backend.num_layers
        ('qwen2-vl', 2)
        >>> visual = backend.encode(np.zeros((4, 112, 112, 3), dtype=np.uint8))
        >>> visual.layout.grid_shape
        (2, 4, 4)
        >>> out = backend.prefill(visual, ["Is there a dog in this video?"], rows=[-3])[0]
        >>> out.row_tokens, tuple(out.attention.shape)
        (('<|im_start|>',), (1, 32))

        A real checkpoint: ``load_backend("Qwen/Qwen2-VL-7B-Instruct", duplicate_frames=True)``.
    """
    import transformers
    from tubescope.engine.backends.pixels import PreprocessorConfig

    model_id = os.fspath(name_or_path)
    directory = resolve_checkpoint(name_or_path)
    config = _read_config(directory, model_id)
    if family is not None:
        cls = adapter_class(family)
    else:
        cls = adapter_for(str(config["model_type"]), model_id)
    unknown = sorted(set(adapter_options) - set(cls.option_defaults))
    if unknown:
        raise BackendOptionError(
            f"{cls.family}: unknown option(s) {unknown}; valid options: {sorted(cls.option_defaults)}"
        )

    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    model_class = cls.transformers_class()
    load_kwargs: dict[str, Any] = {
        "dtype": torch_dtype,
        "attn_implementation": "sdpa",
        "local_files_only": True,
    }
    if torch_device.type != "cpu":
        load_kwargs["device_map"] = {"": str(torch_device)}
    try:
        model = model_class.from_pretrained(directory, **load_kwargs)
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except OSError as err:
        raise ModelUnavailableError(
            f"{model_id}: the checkpoint at {directory} is incomplete or unreadable: "
            f"{str(err).splitlines()[0]}"
        ) from err
    if torch_device.type == "cpu":
        model = model.to(torch_device)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelUnavailableError(
            f"{model_id}: a fast tokenizer (tokenizer.json) is needed for token offsets"
        )
    preprocessor = PreprocessorConfig.from_dir(directory, **cls.preprocessor_defaults)
    return cls(
        model, tokenizer, preprocessor, model_id, share_prefix=share_prefix, **adapter_options
    )
