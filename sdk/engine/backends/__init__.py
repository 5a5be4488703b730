"""Multimodal-LLM backends behind one protocol (:mod:`tubescope.engine.backends.base`)."""

from tubescope.engine.backends.base import Backend, PrefillOutput, Prompt, TokenLayout, VisualTokens, unreverse_grid

__all__ = ["Backend", "PrefillOutput", "Prompt", "TokenLayout", "VisualTokens", "unreverse_grid"]
