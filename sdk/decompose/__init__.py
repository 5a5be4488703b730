"""Query decomposition into attribute (spatial) and action (temporal) texts."""

from tubescope.decompose.base import Decomposer, check_query, resolve_parts
from tubescope.decompose.cache import DecompositionCache
from tubescope.decompose.mllm import MLLMDecomposer, TextGenerator, parse_answer
from tubescope.decompose.precomputed import PrecomputedDecomposer
from tubescope.decompose.rules import RuleDecomposer, split_sentence

__all__ = [
    "Decomposer",
    "RuleDecomposer",
    "PrecomputedDecomposer",
    "MLLMDecomposer",
    "DecompositionCache",
    "TextGenerator",
    "split_sentence",
    "parse_answer",
    "check_query",
    "resolve_parts",
]
