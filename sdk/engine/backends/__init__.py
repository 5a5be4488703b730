"""Multimodal-LLM backends behind one protocol (:mod:`tubescope.engine.backends.base`).

:func:`load_backend` loads a checkpoint (local directory or hub id) as the adapter of its
family; the adapters are importable on their own too. Importing this package does not import
torch or transformers; the loader and the adapters are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tubescope.engine.backends.base import (
    Backend,
    PrefillOutput,
    Prompt,
    TokenLayout,
    VisualTokens,
    unreverse_grid,
)

if TYPE_CHECKING:
    from tubescope.engine.backends.adapter import TransformersBackend  # noqa: F401
    from tubescope.engine.backends.internvl import InternVLBackend  # noqa: F401
    from tubescope.engine.backends.llava_next_video import LlavaNextVideoBackend  # noqa: F401
    from tubescope.engine.backends.llava_onevision import LlavaOnevisionBackend  # noqa: F401
    from tubescope.engine.backends.loading import detect_family, load_backend  # noqa: F401
    from tubescope.engine.backends.qwen2_vl import Qwen2VLBackend, Qwen25VLBackend  # noqa: F401

_LAZY = {
    "load_backend": "tubescope.engine.backends.loading",
    "detect_family": "tubescope.engine.backends.loading",
    "TransformersBackend": "tubescope.engine.backends.adapter",
    "Qwen2VLBackend": "tubescope.engine.backends.qwen2_vl",
    "Qwen25VLBackend": "tubescope.engine.backends.qwen2_vl",
    "LlavaOnevisionBackend": "tubescope.engine.backends.llava_onevision",
    "LlavaNextVideoBackend": "tubescope.engine.backends.llava_next_video",
    "InternVLBackend": "tubescope.engine.backends.internvl",
}

__all__ = [
    "Backend",
    "PrefillOutput",
    "Prompt",
    "TokenLayout",
    "VisualTokens",
    "unreverse_grid",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tubescope.engine.backends' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
