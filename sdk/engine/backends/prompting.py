"""Chat templates, video placeholder expansion, grounding-token candidates and yes/no ids.

Each adapter describes its conversation format with a :class:`ChatTemplate`:

    [BOS] head + <video> + middle + question + tail

where ``<video>`` is either the placeholder token once (one contiguous visual span, expanded to
all visual tokens) or, with ``frame_format``, one text block per temporal group of frames
(``"Frame1: <img><IMG_CONTEXT></img>"``, ``"<0.5 seconds><|vision_start|>...``) whose
placeholder is expanded to that group's tokens. The whole string is tokenized once (the
placeholder is a special token, so it stays one id per occurrence), then each placeholder id is
repeated to its number of visual tokens, exactly as transformers' processors expand them. The
*candidate grounding tokens* are the tokens of ``tail``: the template's tokens after the user
text (``<|im_end|>``, ``\\n``, ``<|im_start|>``, ``assistant``, ``\\n`` for ChatML; the pieces
of `` ASSISTANT:`` for Vicuna), found through the tokenizer's character offsets.

Example:
    >>> t = ChatTemplate(head="USER: ", placeholder="<video>", middle="\\n", tail=" ASSISTANT:")
    >>> t.text("Is there a dog in this video?")
    'USER: <video>\\nIs there a dog in this video? ASSISTANT:'
    >>> f = ChatTemplate(
    ...     head="", placeholder="<C>", middle="\\n", tail="!", frame_format="F{index}: {placeholder}"
    ... )
    >>> f.text("Q?", groups=2)
    'F1: <C>\\nF2: <C>\\nQ?!'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tubescope.errors import ModelUnavailableError, QueryError

__all__ = ["ChatTemplate", "TokenizedPrompt", "tokenize_prompt", "answer_token_ids"]


@dataclass(frozen=True)
class ChatTemplate:
    """One-turn conversation with a video before the question.

    Attributes:
        head: text before the video (system turn, user role, vision-start token).
        placeholder: the special token that stands for visual tokens; expanded.
        middle: text between the video and the question (vision-end token, newline).
        tail: text after the question: closes the user turn and opens the assistant turn.
        add_bos: prepend the tokenizer's BOS token (Llama/Vicuna models).
        frame_format: ``None`` for one placeholder for the whole video; otherwise the text of one
            temporal group, a ``str.format`` pattern with ``{index}`` (1-based), ``{seconds}``
            (the group's time) and ``{placeholder}``.
        frame_separator: text between two groups' blocks.
        text_head: ``head`` of a turn without video (Qwen's head ends with
            ``<|vision_start|>``, which a text-only turn does not have); None: ``head``.
    """

    head: str
    placeholder: str
    middle: str
    tail: str
    add_bos: bool = False
    frame_format: str | None = None
    frame_separator: str = "\n"
    text_head: str | None = None

    def video_text(self, groups: int = 1, seconds: Sequence[float] | None = None) -> str:
        if self.frame_format is None:
            return self.placeholder
        if seconds is not None and len(seconds) != groups:
            raise ValueError(f"{len(seconds)} group times for {groups} groups")
        return self.frame_separator.join(
            self.frame_format.format(
                index=i + 1,
                seconds=0.0 if seconds is None else seconds[i],
                placeholder=self.placeholder,
            )
            for i in range(groups)
        )

    def text(self, question: str, groups: int = 1, seconds: Sequence[float] | None = None) -> str:
        return f"{self.head}{self.video_text(groups, seconds)}{self.middle}{question}{self.tail}"

    def text_only(self, message: str) -> str:
        """One user turn with no video, then the assistant's turn opened (for generation)."""
        head = self.head if self.text_head is None else self.text_head
        return f"{head}{message}{self.tail}"


@dataclass(frozen=True)
class TokenizedPrompt:
    """Token ids of one question with the placeholders expanded.

    Attributes:
        input_ids: all ids, the visual positions filled with the placeholder id.
        visual_start: first visual position.
        num_visual: number of visual tokens.
        candidates: positions of the tail (grounding-token candidates).
        candidate_tokens: their token strings.
        visual_positions: every visual position, when the template has text between frames.
    """

    input_ids: list[int]
    visual_start: int
    num_visual: int
    candidates: tuple[int, ...]
    candidate_tokens: tuple[str, ...]
    visual_positions: tuple[int, ...] | None = None


def tokenize_prompt(
    tokenizer: Any,
    template: ChatTemplate,
    question: str,
    counts: int | Sequence[int],
    seconds: Sequence[float] | None = None,
) -> TokenizedPrompt:
    """Tokenize ``question`` in ``template`` and expand the placeholders.

    Args:
        counts: visual tokens per placeholder: one int (a single span) or one per temporal group
            for a template with ``frame_format``.
        seconds: the groups' times, for templates whose ``frame_format`` uses ``{seconds}``.

    Raises:
        QueryError: the question is empty or contains the video placeholder token.
        ValueError: the tokenizer does not know the placeholder or gives no offsets.
    """
    question = question.strip()
    if not question:
        raise QueryError("question is empty")
    if template.placeholder in question:
        raise QueryError(
            f"question {question!r} contains the video placeholder {template.placeholder!r}"
        )
    counts = [int(counts)] if isinstance(counts, int) else [int(c) for c in counts]
    if template.frame_format is None and len(counts) != 1:
        counts = [sum(counts)]
    if not counts or min(counts) < 1:
        raise ValueError(f"visual token counts must be positive, got {counts}")
    placeholder_id = tokenizer.convert_tokens_to_ids(template.placeholder)
    if placeholder_id is None or placeholder_id == tokenizer.unk_token_id:
        raise ValueError(
            f"tokenizer has no token {template.placeholder!r} for the video placeholder"
        )

    text = template.text(question, len(counts), seconds)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    offsets = [tuple(o) for o in encoded["offset_mapping"]]
    if template.add_bos:
        bos = tokenizer.bos_token_id
        if bos is None:
            raise ValueError("template needs a BOS token but the tokenizer has none")
        ids = [bos, *ids]
        offsets = [(0, 0), *offsets]
    where = [i for i, t in enumerate(ids) if t == placeholder_id]
    if len(where) != len(counts):
        raise QueryError(
            f"expected {len(counts)} video placeholder(s) {template.placeholder!r} in the prompt, "
            f"found {len(where)}"
        )
    question_end = len(text) - len(template.tail)
    tail = [i for i, (_, end) in enumerate(offsets) if end > question_end]
    if not tail:
        raise ValueError(f"template tail {template.tail!r} produced no tokens")

    expanded: list[int] = []
    positions: list[int] = []
    new_index: list[int] = []  # new position of every original token
    previous = 0
    for at, count in zip(where, counts, strict=True):
        for i in range(previous, at):
            new_index.append(len(expanded))
            expanded.append(ids[i])
        new_index.append(len(expanded))
        positions.extend(range(len(expanded), len(expanded) + count))
        expanded.extend([placeholder_id] * count)
        previous = at + 1
    for i in range(previous, len(ids)):
        new_index.append(len(expanded))
        expanded.append(ids[i])
    candidates = tuple(new_index[i] for i in tail)
    tokens = tuple(tokenizer.convert_ids_to_tokens([ids[i] for i in tail]))
    contiguous = positions == list(range(positions[0], positions[0] + len(positions)))
    return TokenizedPrompt(
        expanded,
        positions[0],
        len(positions),
        candidates,
        tokens,
        None if contiguous else tuple(positions),
    )


def answer_token_ids(tokenizer: Any, word: str, model_id: str = "<model>") -> tuple[int, ...]:
    """Single-token ids of an answer word, lower-case bare form first.

    Order: ``word``, ``Word``, then the space-prefixed forms (``" word"``, ``" Word"``) when
    they are single tokens. The official code scores the lower-case bare form (Qwen2 ids 9693
    "yes" / 2152 "no"), so ``ids[0]`` is that one whenever the vocabulary has it.

    Raises:
        ModelUnavailableError: neither ``word`` nor ``Word`` is a single token of the vocabulary.
    """
    vocab = tokenizer.get_vocab()
    found: list[int] = []
    for piece in (word, word.capitalize()):
        if piece in vocab:
            found.append(int(vocab[piece]))
    if not found:
        raise ModelUnavailableError(
            f"{model_id}: the tokenizer has no single token for {word!r} or {word.capitalize()!r}; "
            "the yes/no logits the grounding engine scores cannot be read from this model"
        )
    for text in (f" {word}", f" {word.capitalize()}"):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) == 1 and int(ids[0]) not in found:
            found.append(int(ids[0]))
    return tuple(found)
