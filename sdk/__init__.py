"""tubescope: zero-shot spatio-temporal video grounding with multimodal LLMs.

Public names are imported lazily, so ``import tubescope.eval`` (or the data model) works in an
environment without torch or OpenCV.

Example:
    >>> import tubescope
    >>> tubescope.Tube(0, 5).span
    (0, 5)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tubescope._version import __version__

if TYPE_CHECKING:
    from tubescope.errors import (
        AnnotationError,
        ModelUnavailableError,
        PredictionError,
        ProposalError,
        QueryError,
        TubescopeError,
        ValidationError,
        VideoError,
    )
    from tubescope.engine.config import GrounderConfig, preset
    from tubescope.grounder import Grounder
    from tubescope.types import GroundingResult, SubQueries, Track, Tube
    from tubescope.video import Frame, Video, VideoInfo

# public name -> module that defines it
_LAZY = {
    "Tube": "tubescope.types",
    "Track": "tubescope.types",
    "GroundingResult": "tubescope.types",
    "SubQueries": "tubescope.types",
    "Grounder": "tubescope.grounder",
    "GrounderConfig": "tubescope.engine.config",
    "preset": "tubescope.engine.config",
    "Video": "tubescope.video",
    "VideoInfo": "tubescope.video",
    "Frame": "tubescope.video",
    "TubescopeError": "tubescope.errors",
    "ValidationError": "tubescope.errors",
    "VideoError": "tubescope.errors",
    "AnnotationError": "tubescope.errors",
    "PredictionError": "tubescope.errors",
    "ModelUnavailableError": "tubescope.errors",
    "QueryError": "tubescope.errors",
    "ProposalError": "tubescope.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tubescope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
