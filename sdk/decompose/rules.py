"""An offline, rule-based decomposer for referring sentences (HC-STVG / VidSTG style).

The subject noun phrase with all its modifiers (adjectives, prepositional phrases, participle
phrases, relative clauses) becomes the *attribute*; the predicate, given a generic subject
made of the head noun ("The man ..."), becomes the *action*:

* "The man in purple clothes takes a step forward and sits on the bench."
  -> attribute "the man in purple clothes", action "The man takes a step forward and sits on the bench."
* "Who is holding the red ball?" -> no attribute (the full query is used), action
  "Someone is holding the red ball."

It is a small shallow parser with word lists, not a language model: it knows the verbs that
describe people and objects moving, finite verb forms (``-s``, ``-ed``, irregular pasts,
auxiliaries), and the modifier openers (prepositions, ``wearing``/``dressed``..., ``who``).
When it cannot find the subject/predicate boundary it returns no split, and the engine falls
back to the full query.
"""

from __future__ import annotations

import re
import unicodedata

from tubescope.decompose.base import check_query
from tubescope.types import SubQueries

__all__ = ["RuleDecomposer", "split_sentence"]

_DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "one", "two", "three", "another", "some"}
_POSSESSIVES = {"his", "her", "their", "its", "my", "your", "our"}
_PREPOSITIONS = {
    "in", "with", "on", "at", "of", "near", "by", "behind", "beside", "next", "under", "over", "from",
    "without", "inside", "outside", "between", "among", "above", "below", "across", "around", "to",
    "into", "onto", "along", "against", "toward", "towards", "beneath", "opposite", "like", "than",
}
_RELATIVES = {"who", "that", "which", "whose", "whom"}
_AUXILIARIES = {
    "is", "are", "was", "were", "be", "been", "has", "have", "had", "does", "did", "do", "can",
    "could", "will", "would", "may", "might", "should", "must", "keeps", "kept", "starts", "begins",
}
_ADVERBS = {
    "first", "then", "also", "still", "just", "again", "suddenly", "finally", "slowly", "quickly",
    "immediately", "gently", "later", "soon", "afterwards", "now", "once", "always", "never", "back",
    "together", "directly", "eventually", "only",
}
# base forms of verbs that describe what targets do in STVG sentences
_VERBS = set(
    """
    walk run sit stand turn take put pick hold raise lift lower look stare glance watch see talk speak
    say tell ask answer shout cry laugh smile nod shake wave point touch push pull grab catch throw
    hand give receive pass hug kiss hit kick punch slap open close leave enter exit come go move step
    jump climb fall lie lean bend kneel squat crouch reach drink eat pour write read type play dance
    sing clap wipe fix carry bring drop place set get rise stop follow chase approach pat rub hold
    shoot aim fire drive ride park cross wear show cover use check call dial answer stretch wash
    hang swing lead pace run bow fold tap knock adjust button unbutton pack unpack sweep mop
    pick lay spin roll slide fly swim bark bite sniff feed pet guide help lift support tie untie
    remove arrange wrap unwrap smoke light blow sip hold toss flip hide search cut chop stir cook
    bite chew scratch shrug sigh frown yell whisper argue fight wrestle struggle escape flee return
    head storm hurry rush dash stroll wander pause wait sleep wake greet introduce shake hug
    """.split()
)
_IRREGULAR_PAST = {
    "sat": "sit", "stood": "stand", "took": "take", "ran": "run", "went": "go", "came": "come",
    "got": "get", "gave": "give", "held": "hold", "left": "leave", "fell": "fall", "threw": "throw",
    "caught": "catch", "saw": "see", "said": "say", "told": "tell", "rose": "rise", "lay": "lie",
    "knelt": "kneel", "led": "lead", "drove": "drive", "rode": "ride", "ate": "eat", "drank": "drink",
    "wrote": "write", "brought": "bring", "spoke": "speak", "shook": "shake", "hung": "hang",
    "swung": "swing", "flew": "fly", "swam": "swim", "bit": "bite", "fed": "feed", "hid": "hide",
    "woke": "wake", "slept": "sleep", "fought": "fight", "fled": "flee", "put": "put", "hit": "hit",
    "cut": "cut", "set": "set", "shut": "shut", "lit": "light", "began": "begin", "kept": "keep",
}
# words that open a participle modifier right after the subject noun ("the woman wearing ...")
_PARTICIPLE_OPENERS = {"wearing", "dressed", "holding", "carrying", "sitting", "standing", "lying",
                       "walking", "running", "riding", "having", "using", "seated", "covered",
                       "leaning", "talking", "smiling", "playing", "waiting", "dancing", "facing",
                       "kneeling", "squatting", "driving", "pushing", "pulling", "eating", "drinking",
                       "reading", "watching", "looking", "hiding", "named", "called", "clad"}
_QUESTION_SUBJECTS = {"who": "Someone", "what": "Something", "which": "Something", "whom": "Someone"}
# a word is letters/digits of any script (``[^\W_]``), joined by hyphens or apostrophes (’ too);
# anything else that is not a space (punctuation, emoji) is a token of its own
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*|[^\s\w]|_")


def _lemma(word: str) -> str | None:
    """The verb lemma of ``word`` if it is a form of a known verb, else None."""
    w = word.lower()
    if w in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[w]
    if w in _VERBS:
        return w
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"),
                         ("d", ""), ("ing", ""), ("ing", "e")):
        if w.endswith(suffix) and len(w) > len(suffix) + 1:
            stem = w[: -len(suffix)] + repl
            if stem in _VERBS:
                return stem
            if suffix in ("ed", "ing") and len(stem) > 2 and stem[-1] == stem[-2] and stem[:-1] in _VERBS:
                return stem[:-1]  # stopped -> stop, running -> run
    return None


def _finite(word: str, plural_subject: bool) -> bool:
    """Can ``word`` be the finite main verb of the sentence?"""
    w = word.lower()
    if w in _AUXILIARIES:
        return True
    lemma = _lemma(w)
    if lemma is None or w.endswith("ing"):
        return False
    if w in _IRREGULAR_PAST or w.endswith("ed") or w.endswith("s"):
        return True
    return plural_subject and w == lemma  # "the two men walk"


def _is_word(token: str) -> bool:
    return bool(re.match(r"[^\W_]", token))


def _is_symbol(token: str) -> bool:
    """An emoji or other symbol (Unicode category S*), as opposed to punctuation."""
    return bool(token) and unicodedata.category(token[0]).startswith("S")


class _Parser:
    """Walks the tokens once: subject noun phrase, its modifiers, then the main verb."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.low = [t.lower() for t in tokens]
        self.i = 0
        self.head: str | None = None
        self.plural = False

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.low[j] if j < len(self.low) else ""

    def noun_phrase(self) -> None:
        """Determiners, possessives, adjectives and nouns; stops before a finite verb."""
        start = self.i
        while self.i < len(self.tokens):
            w = self.peek()
            if not _is_word(self.tokens[self.i]):
                if (w in ("'", "-") or _is_symbol(w)) and self.i > start:
                    self.i += 1  # "the dog 🐕 runs": an emoji or symbol stays in the phrase
                    continue
                break
            after_modifier = self.i > start and (
                self.low[self.i - 1] in _DETERMINERS | _POSSESSIVES or self.low[self.i - 1].endswith("'s")
            )
            if after_modifier and self.low[self.i - 1] == "her" and _finite(w, self.plural):
                # "behind her pushes the woman": object pronoun, then the verb and its object
                after_modifier = self.peek(1) not in _DETERMINERS | _POSSESSIVES
            if self.i > start and not after_modifier:
                if w in _PREPOSITIONS or w in _RELATIVES or w in _ADVERBS or w in _PARTICIPLE_OPENERS:
                    break
                if w.endswith("ing") and _lemma(w) is not None:
                    break  # a participle modifier: "the square moving up"
                if _finite(w, self.plural) or w.endswith("ly"):
                    break
                if w == "and" and _lemma(self.peek(1)) is not None and self.peek(1) not in _DETERMINERS:
                    break
            if self.head is None and w in {"two", "three", "several", "many", "both"}:
                self.plural = True
            self.i += 1
        if self.i > start and self.head is None:
            words = [t for t in self.tokens[start : self.i] if _is_word(t)]
            if words:
                self.head = words[-1]
                if self.head.lower().endswith(("men", "people", "children")) or (
                    self.head.lower().endswith("s") and self.plural
                ):
                    self.plural = True

    def modifiers(self) -> None:
        """Prepositional, participle and relative-clause modifiers of the subject."""
        while self.i < len(self.tokens):
            w = self.peek()
            if w == ",":
                if self.peek(1) in _RELATIVES or self.peek(1) in _PARTICIPLE_OPENERS or self.peek(1) in _PREPOSITIONS:
                    self.i += 1
                    continue
                nxt = self.i + 1
                if nxt < len(self.low) and (_finite(self.low[nxt], self.plural) or self.low[nxt] in _ADVERBS):
                    return  # ", nods." closes a parenthetical modifier
                return
            if w in _PREPOSITIONS:
                self.i += 1
                if w == "next" and self.peek() == "to":
                    self.i += 1
                self.noun_phrase()
            elif w in _PARTICIPLE_OPENERS or (w.endswith("ing") and _lemma(w) is not None):
                self.i += 1
                self.noun_phrase()
            elif w in _RELATIVES:
                self.i += 1
                while self.peek() in _AUXILIARIES or self.peek() in _ADVERBS:
                    self.i += 1
                if _lemma(self.peek()) is not None or self.peek() in _AUXILIARIES:
                    self.i += 1
                self.noun_phrase()
            elif w in {"and", "or"} and self.peek(1) in _PREPOSITIONS:
                self.i += 1
            else:
                return

    def parse(self) -> tuple[int, int] | None:
        """``(subject_end, verb_start)`` token positions, or None when there is no boundary."""
        self.noun_phrase()
        if self.head is None:
            return None
        self.modifiers()
        subject_end = self.i
        while self.peek() in {",", "then"} or self.peek() in _ADVERBS or (self.peek().endswith("ly") and _lemma(self.peek()) is None):
            self.i += 1
        if self.i < len(self.tokens) and _finite(self.peek(), self.plural):
            return subject_end, subject_end
        return None


class _Tokens(list):
    """The query's tokens, remembering where each one stands in the query text."""

    def __init__(self, text: str) -> None:
        matches = list(_WORD.finditer(text))
        super().__init__(m.group(0) for m in matches)
        self.text = text
        self.spans = [m.span() for m in matches]

    def text_of(self, start: int, end: int | None = None) -> str:
        """The query text from token ``start`` to token ``end`` (exclusive), spacing as written."""
        end = len(self) if end is None else end
        if start >= end:
            return ""
        return self.text[self.spans[start][0] : self.spans[end - 1][1]]


def split_sentence(query: str) -> tuple[str | None, str | None]:
    """Split a referring sentence into ``(attribute, action)``; None where it cannot.

    Example:
        >>> split_sentence("The bald man with glasses picks up the phone.")
        ('the bald man with glasses', 'The man picks up the phone.')
        >>> split_sentence("Who is holding the red ball?")
        (None, 'Someone is holding the red ball.')
    """
    text = check_query(query)
    tokens = _Tokens(text)
    low = [t.lower() for t in tokens]
    if low and low[0] in _QUESTION_SUBJECTS:
        rest = tokens.text_of(1).rstrip("?.! ")
        return None, f"{_QUESTION_SUBJECTS[low[0]]} {rest}." if rest else None
    skip = 2 if low[:2] in (["there", "is"], ["there", "are"], ["there", "was"], ["there", "were"]) else 0
    parser = _Parser(list(tokens[skip:]))
    bounds = parser.parse()
    head = parser.head
    if head is None:
        return None, None
    subject = tokens.text_of(skip, skip + bounds[0] if bounds else None).rstrip(",.?! ")
    attribute = subject[:1].lower() + subject[1:]
    if bounds is None:
        relative = next((k for k, w in enumerate(low) if w in _RELATIVES and k > skip), None)
        if relative is not None and relative + 1 < len(tokens):
            # "the woman who sits down" -> "The woman sits down."
            predicate = tokens.text_of(relative + 1).rstrip(".?! ")
            return attribute, f"The {head.lower()} {predicate}."
        participle = next((k for k, w in enumerate(low) if k >= skip and w.endswith("ing") and _lemma(w)), None)
        if participle is None:
            return attribute, None
        # "a dog running on the grass" -> "The dog is running on the grass."
        predicate = tokens.text_of(participle).rstrip(".?! ")
        verb = "are" if parser.plural else "is"
        return attribute, f"The {head.lower()} {verb} {predicate}."
    predicate = tokens.text_of(skip + bounds[1]).strip()
    predicate = predicate.lstrip(", ")
    if not predicate.endswith((".", "!", "?")):
        predicate += "."
    return attribute, f"The {head.lower()} {predicate}"


class RuleDecomposer:
    """Offline decomposer for English referring sentences (see the module docstring).

    Example:
        >>> RuleDecomposer().decompose("A woman with long hair is talking to the man.").action
        'The woman is talking to the man.'
    """

    name = "rules"

    def decompose(self, query: str, video_id: str | None = None) -> SubQueries:
        attribute, action = split_sentence(query)
        return SubQueries(
            attribute=attribute,
            action=action,
            fell_back=attribute is None or action is None,
            source=self.name,
        )
