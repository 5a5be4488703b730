"""Decomposition by the loaded multimodal LLM itself, with a few-shot prompt.

The prompt follows the paper's decomposition instructions and its two published examples
(README "The method in brief"): the attribute is the target's noun phrase with its modifiers,
the action keeps a generic subject and drops the attributes. The model must answer in exactly
two lines, ``Attribute: ...`` and ``Action: ...``; anything else is a failure (the engine then
falls back to the full query and records it). Every shipped backend generates text
(greedy, at most ``max_new_tokens``: :mod:`tubescope.engine.backends.generation`); the result's
``sub_queries.raw`` keeps the generated text and ``sub_queries.fell_back`` says whether it
parsed.

Example (a scripted generator in place of a model):
    >>> class Scripted:
    ...     def generate_text(self, prompt, max_new_tokens=64):
    ...         return "Attribute: the dog.\\nAction: The dog barks."
    >>> parts = MLLMDecomposer(Scripted()).decompose("The dog barks.")
    >>> parts.attribute, parts.action, parts.fell_back, parts.raw
    ('the dog', 'The dog barks.', False, 'Attribute: the dog.\\nAction: The dog barks.')
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from tubescope.decompose.base import check_query
from tubescope.errors import QueryError
from tubescope.types import SubQueries

__all__ = ["MLLMDecomposer", "TextGenerator", "FEW_SHOT_PROMPT", "parse_answer"]

FEW_SHOT_PROMPT = """You split a sentence that describes one target in a video into two parts.
Attribute: the noun phrase naming the target with all its appearance details, nothing it does.
Action: what the target does, with a generic subject (like "The man"), without appearance details.
Answer with exactly two lines, "Attribute: ..." and "Action: ...".

Sentence: The man in purple clothes takes a step forward and sits on the bench.
Attribute: the man in purple clothes.
Action: The man takes a step forward and sits on the bench.

Sentence: The yellow-haired man takes the opposite woman's hand and kisses it, then puts it down.
Attribute: the yellow-haired man.
Action: The man takes the opposite woman's hand and kisses it, then puts it down.

Sentence: {query}
"""

_LINE = re.compile(r"^\s*(attribute|action)\s*:\s*(.+?)\s*$", re.IGNORECASE)


@runtime_checkable
class TextGenerator(Protocol):
    """What the decomposer needs from a backend: greedy text generation from a text prompt."""

    def generate_text(self, prompt: str, max_new_tokens: int = 64) -> str: ...


def parse_answer(answer: str) -> tuple[str, str] | None:
    """Strictly parse ``Attribute: ...`` / ``Action: ...``; None unless both appear exactly once.

    Example:
        >>> parse_answer("Attribute: the dog.\\nAction: The dog barks.")
        ('the dog', 'The dog barks.')
        >>> parse_answer("The dog barks.") is None
        True
    """
    found: dict[str, list[str]] = {"attribute": [], "action": []}
    for line in answer.strip().splitlines():
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            if any(found.values()) and len(found["attribute"]) == 1 and len(found["action"]) == 1:
                break  # trailing chatter after a complete answer
            return None
        found[match.group(1).lower()].append(match.group(2))
    if len(found["attribute"]) != 1 or len(found["action"]) != 1:
        return None
    attribute = found["attribute"][0].rstrip(". ")
    action = found["action"][0]
    if not attribute or not action:
        return None
    return attribute, action


class MLLMDecomposer:
    """Ask a backend that can generate text to decompose the query (few-shot, strict parsing)."""

    name = "mllm"

    def __init__(self, generator: TextGenerator, max_new_tokens: int = 64) -> None:
        if not isinstance(generator, TextGenerator):
            raise QueryError(
                f"decomposer 'mllm': {type(generator).__name__} cannot generate text (it has no "
                "generate_text); use decomposer='rules' or a precomputed decomposition file"
            )
        self.generator = generator
        self.max_new_tokens = max_new_tokens
        self._cache: dict[str, SubQueries] = {}

    def decompose(self, query: str, video_id: str | None = None) -> SubQueries:
        text = check_query(query)
        if text not in self._cache:
            answer = self.generator.generate_text(FEW_SHOT_PROMPT.format(query=text), self.max_new_tokens)
            if not isinstance(answer, str):
                raise TypeError(f"generate_text returned {type(answer).__name__}, not str")
            parsed = parse_answer(answer)
            if parsed is None:
                self._cache[text] = SubQueries(fell_back=True, source=self.name, raw=answer)
            else:
                self._cache[text] = SubQueries(
                    parsed[0], parsed[1], fell_back=False, source=self.name, raw=answer
                )
        return self._cache[text]
