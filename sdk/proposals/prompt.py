"""Detector prompts from a query: a small head-noun heuristic.

Open-vocabulary detectors work best with a short noun ("person", "dog"), not the whole
referring sentence. :func:`head_noun` finds the head of the query's first noun phrase: it
cuts the sentence at the first preposition, relative pronoun, verb-like word or punctuation,
and takes the last known object noun of that chunk (else its last word). Questions (VidSTG's
interrogative queries) give ``"person"`` for "who ..." and the asked noun, or ``"object"``,
for "what/which ...".
:func:`detector_prompt` also maps words for people (man, woman, girl, ...) to ``"person"``,
the class the paper's HC-STVG proposals were made for (docs/proposals.md).

This is a heuristic for English queries; pass an explicit prompt when it guesses wrong.

Example:
    >>> from tubescope.proposals import detector_prompt, head_noun
    >>> head_noun("The man in the red jacket who sits down")
    'man'
    >>> detector_prompt("The man in the red jacket who sits down")
    'person'
    >>> detector_prompt("the orange car turning left")
    'car'
"""

from __future__ import annotations

import re

from tubescope.errors import QueryError

__all__ = ["head_noun", "detector_prompt", "PERSON_WORDS"]

#: Words for people; :func:`detector_prompt` maps them to ``"person"``.
PERSON_WORDS = frozenset(
    """person people man men woman women boy boys girl girls child children kid kids baby babies
    adult adults lady ladies gentleman gentlemen guy guys player players someone somebody he she
    they him her human humans individual pedestrian pedestrians worker officer policeman
    policewoman soldier student teacher doctor nurse driver rider cyclist athlete dancer singer
    customer waiter waitress old elder toddler teenager teen male female""".split()
)

# Common object nouns (COCO and VidOR categories and a few frequent ones); the head is the
# last of these in the subject chunk, so "the orange car" gives "car", not "orange".
_OBJECTS = (
    frozenset(
        """bicycle bike car motorcycle motorbike airplane aircraft plane bus train truck boat ship
    light hydrant sign meter bench bird cat dog horse sheep cow elephant bear zebra giraffe
    backpack umbrella handbag bag tie suitcase frisbee skis ski snowboard ball kite bat glove
    skateboard surfboard racket bottle glass cup fork knife spoon bowl banana apple sandwich
    orange broccoli carrot pizza donut cake chair couch sofa plant bed table toilet tv television
    laptop mouse remote keyboard phone microwave oven toaster sink refrigerator fridge book clock
    vase scissors teddy toy toothbrush animal vehicle van scooter stroller cart door window box
    camera screen monitor computer guitar piano drum microphone hat cap shirt jacket coat dress
    duck chicken penguin fish turtle crab lion tiger leopard panda monkey squirrel rabbit hamster
    pig goat deer camel kangaroo snake lizard frog crocodile antelope cattle stingray whale
    dolphin shark baby child""".split()
    )
    | PERSON_WORDS
)

# Words that end the subject noun phrase.
_BOUNDARY = frozenset(
    """in on at with without who whom whose that which where when while wearing holding carrying
    is are was were be being been has have had does did do and or but of from to into onto
    towards toward near behind beside next under over above below between across through by
    for after before around along against than then as like""".split()
)
_DETERMINERS = frozenset(
    "a an the this that these those his her its their some another other one".split()
)
# Verbs that often follow the subject in STVG queries ("the man walks to ...").
_VERBS = frozenset(
    """walks runs sits stands turns goes comes looks moves jumps walked ran sat stood turned went
    came looked moved jumped takes took gives gave puts put picks picked opens opened closes
    closed holds held pushes pushed pulls pulled leans leaned raises raised lifts lifted throws
    threw catches caught grabs grabbed talks talked speaks spoke says said hits hit touches
    touched enters entered leaves left stops stopped rides rode drives drove chases chased
    follows followed hugs hugged kisses kissed waves waved points pointed bends bent steps stepped
    lies lay lays laid climbs climbed falls fell gets got drinks drank eats ate plays
    played""".split()
)
_WHO = frozenset({"who", "whom", "whose"})
_WHAT = frozenset({"what", "which"})
_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")


def _subject_chunk(query: str) -> list[str]:
    text = query.lower()
    first_clause = re.split(r"[,.;:!?()]", text, maxsplit=1)[0]
    words = _WORD.findall(first_clause)
    chunk: list[str] = []
    for word in words:
        if chunk and (
            word in _BOUNDARY
            or word in _VERBS
            or (word.endswith("ing") and len(word) > 4 and word not in _OBJECTS)
        ):
            break
        chunk.append(word)
    return chunk


def head_noun(query: str) -> str:
    """The head noun of the query's subject, lower case (e.g. ``"man"``).

    Raises:
        ValueError: the query has no words.

    Example:
        >>> from tubescope.proposals import head_noun
        >>> head_noun("a woman with a white dress walks to the car")
        'woman'
        >>> head_noun("the red circle moving to the right")
        'circle'
    """
    words = _WORD.findall(query.lower())
    if words and words[0] in _WHO:  # VidSTG interrogative queries: "Who is next to the car?"
        return "person"
    if words and words[0] in _WHAT:  # "What is above the table?" / "Which dog runs?"
        rest = query.lower().split(words[0], 1)[1]
        chunk = _subject_chunk(rest) if len(words) > 1 and words[1] not in _BOUNDARY else []
        content = [w for w in chunk if w not in _DETERMINERS]
        known = [w for w in content if w in _OBJECTS]
        return known[-1] if known else (content[-1] if content else "object")
    chunk = _subject_chunk(query)
    content = [w for w in chunk if w not in _DETERMINERS]
    if not content:
        words = _WORD.findall(query.lower())
        if not words:
            raise QueryError(f"cannot find a noun in the query {query!r}")
        content = [w for w in words if w not in _DETERMINERS] or words
        return content[0]
    known = [w for w in content if w in _OBJECTS]
    return known[-1] if known else content[-1]


def detector_prompt(query: str, *, person: bool = True) -> str:
    """The default text prompt for an open-vocabulary detector: the query's head noun.

    With ``person=True`` (default) words for people become ``"person"``.

    Example:
        >>> from tubescope.proposals import detector_prompt
        >>> detector_prompt("two girls play with a ball"), detector_prompt("the girl", person=False)
        ('person', 'girl')
    """
    noun = head_noun(query)
    if person and noun in PERSON_WORDS:
        return "person"
    return noun
