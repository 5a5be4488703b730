"""Multimodal-LLM backends behind one protocol (:mod:`tubescope.engine.backends.base`).

:func:`load_backend` loads a checkpoint (local directory or hub id) as the adapter of its
family; the adapters are importable on their own too. The families are found through the
registry (:mod:`tubescope.engine.backends.families`): each adapter class (``Qwen2VLBackend``,
``LlavaOnevisionBackend``, ...) is a name of this package because its module registered it.
Importing this package does not import torch or transformers; the loader and the adapters
are imported on first use.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

from tubescope.engine.backends.base import (
    Backend,
    PrefillOutput,
    Prompt,
    TokenLayout,
    VisualTokens,
    unreverse_grid,
)
from tubescope.engine.backends.families import FamilyError, adapter_classes, family_names

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
}

__all__ = [
    "Backend",
    "PrefillOutput",
    "Prompt",
    "TokenLayout",
    "VisualTokens",
    "unreverse_grid",
    "FamilyError",
    "family_names",
    *_LAZY,
]


def _family_class_modules() -> dict[str, str]:
    """Class name -> module of every family adapter defined in this package."""
    prefix = __name__ + "."
    return {
        cls.__name__: cls.__module__
        for cls in adapter_classes().values()
        if cls.__module__.startswith(prefix)
    }


@functools.cache
def _submodules() -> frozenset[str]:
    return frozenset(m.name for m in pkgutil.iter_modules(__path__))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    # ``from tubescope.engine.backends import capture`` asks for a submodule not yet imported:
    # answer AttributeError (the import system then loads it) without asking the registry
    if module is None and not name.startswith("_") and name not in _submodules():
        module = _family_class_modules().get(name)
    if module is None:
        raise AttributeError(f"module 'tubescope.engine.backends' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_family_class_modules()})
