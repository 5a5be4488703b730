"""Query decomposition: the rule-based splitter, precomputed files, and the MLLM parser."""

from __future__ import annotations

import json

import pytest

from tubescope.decompose import (
    MLLMDecomposer,
    PrecomputedDecomposer,
    RuleDecomposer,
    parse_answer,
    resolve_parts,
    split_sentence,
)
from tubescope.errors import QueryError
from tubescope.types import SubQueries

SENTENCES = [
("The man in purple clothes takes a step forward and sits on the bench.", "the man in purple clothes", "The man takes a step forward and sits on the bench."),
("The yellow-haired man takes the opposite woman's hand and kisses it, then puts it down.", "the yellow-haired man", "The man takes the opposite woman's hand and kisses it, then puts it down."),
("The woman in the red dress turns around and walks to the door.", "the woman in the red dress", "The woman turns around and walks to the door."),
("The bald man with glasses picks up the phone.", "the bald man with glasses", "The man picks up the phone."),
("The little girl wearing a white hat runs toward her mother.", "the little girl wearing a white hat", "The girl runs toward her mother."),
("The man who wears a black suit stands up.", "the man who wears a black suit", "The man stands up."),
("A woman with long hair is talking to the man next to her.", "a woman with long hair", "The woman is talking to the man next to her."),
("The old man sitting on the sofa raises his hand.", "the old man sitting on the sofa", "The man raises his hand."),
("The boy in blue jeans jumps off the wall.", "the boy in blue jeans", "The boy jumps off the wall."),
("The woman holding a cup drinks from it.", "the woman holding a cup", "The woman drinks from it."),
("The tall man on the left walks away.", "the tall man on the left", "The man walks away."),
("The man in black turns his head and looks at the woman.", "the man in black", "The man turns his head and looks at the woman."),
("The woman with a ponytail puts down the bag.", "the woman with a ponytail", "The woman puts down the bag."),
("The police officer in uniform grabs the man's arm.", "the police officer in uniform", "The officer grabs the man's arm."),
("The man in the gray coat who is holding a gun shoots.", "the man in the gray coat who is holding a gun", "The man shoots."),
("An adult leans on a dog.", "an adult", "The adult leans on a dog."),
("A child in pink clothes rides a bicycle.", "a child in pink clothes", "The child rides a bicycle."),
("There is a dog running on the grass.", "a dog running on the grass", "The dog is running on the grass."),
("Who is holding the red ball?", None, "Someone is holding the red ball."),
("What is above the wooden table?", None, "Something is above the wooden table."),
("The man first looks at the woman and then leaves the room.", "the man", "The man first looks at the woman and then leaves the room."),
("The woman in white gets up from the chair.", "the woman in white", "The woman gets up from the chair."),
("The man with a beard, who is wearing a hat, nods.", "the man with a beard, who is wearing a hat", "The man nods."),
("The guy in the striped shirt hands the paper to the woman.", "the guy in the striped shirt", "The guy hands the paper to the woman."),
("The lady behind the counter smiles and waves.", "the lady behind the counter", "The lady smiles and waves."),
("The boy in red shorts kicks the ball.", "the boy in red shorts", "The boy kicks the ball."),
("The man standing by the window closes the curtains.", "the man standing by the window", "The man closes the curtains."),
("The woman dressed in black opens the door.", "the woman dressed in black", "The woman opens the door."),
("The short-haired woman looks down.", "the short-haired woman", "The woman looks down."),
("The man in the middle claps his hands.", "the man in the middle", "The man claps his hands."),
("The person on the right bends down to pick up the box.", "the person on the right", "The person bends down to pick up the box."),
("The old woman with a walking stick slowly walks away.", "the old woman with a walking stick", "The woman slowly walks away."),
("A man carrying a bag enters the room.", "a man carrying a bag", "The man enters the room."),
("The black dog runs after the ball.", "the black dog", "The dog runs after the ball."),
("The man turns around.", "the man", "The man turns around."),
("The man in glasses was sitting at the desk.", "the man in glasses", "The man was sitting at the desk."),
("The woman put the baby in the crib.", "the woman", "The woman put the baby in the crib."),
("The two men in suits walk out of the room.", "the two men in suits", "The men walk out of the room."),
("The man with his hands in his pockets walks forward.", "the man with his hands in his pockets", "The man walks forward."),
("The woman in the white shirt stopped and turned back.", "the woman in the white shirt", "The woman stopped and turned back."),
("the man in a blue shirt hugs the woman", "the man in a blue shirt", "The man hugs the woman."),
]


@pytest.mark.parametrize(("query", "attribute", "action"), SENTENCES)
def test_rule_splitter(query, attribute, action):
    assert split_sentence(query) == (attribute, action)


def test_rule_splitter_set_is_large_and_varied():
    assert len(SENTENCES) >= 30
    assert any(a is None for _, a, _ in SENTENCES)  # interrogatives


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("The man behind her pushes the woman.", ("the man behind her", "The man pushes the woman.")),
        ("The woman who sits down", ("the woman who sits down", "The woman sits down.")),
        ("The man", ("the man", None)),
        ("the orange square moving up", ("the orange square moving up", "The square is moving up.")),
        ("The old woman with a walking stick waves.", ("the old woman with a walking stick", "The woman waves.")),
    ],
)
def test_rule_splitter_edge_cases(query, expected):
    assert split_sentence(query) == expected


def test_rule_decomposer_reports_fallback():
    full = RuleDecomposer().decompose("The man turns around.")
    assert full == SubQueries("the man", "The man turns around.", fell_back=False, source="rules")
    partial = RuleDecomposer().decompose("Who is holding the red ball?")
    assert partial.fell_back and partial.attribute is None
    resolved = resolve_parts("Who is holding the red ball?", partial)
    assert resolved.attribute == "Who is holding the red ball?"
    assert resolved.action == "Someone is holding the red ball."
    assert resolved.fell_back


@pytest.mark.parametrize("query", ["", "   ", None, 5])
def test_empty_or_bad_query_is_a_query_error(query):
    with pytest.raises(QueryError):
        RuleDecomposer().decompose(query)


# ---------------------------------------------------------------- precomputed
def test_official_gpt4_format_uses_last_element_and_sentinel(tmp_path):
    path = tmp_path / "gpt4_decompose_attr_action.json"
    path.write_text(json.dumps({
        "7_demoClipA.mp4": {
            "decompose_attribute": ["first try.", "the woman in the grey coat."],
            "decompose_action": ["x", "The woman turns and walks to the door."],
        },
        "8_failed.mp4": {
            "decompose_attribute": ["please describe this video"],
            "decompose_action": ["please describe this video"],
        },
    }))
    decomposer = PrecomputedDecomposer(path)
    parts = decomposer.decompose("whatever the sentence was", video_id="7_demoClipA.mp4")
    assert parts == SubQueries(
        "the woman in the grey coat", "The woman turns and walks to the door.", False, "precomputed"
    )
    assert decomposer.decompose("q", video_id="/data/videos/7_demoClipA.mp4").attribute == "the woman in the grey coat"
    failed = decomposer.decompose("q", video_id="8_failed.mp4")
    assert failed.fell_back and failed.attribute is None and failed.action is None
    missing = decomposer.decompose("q", video_id="9_absent.mp4")
    assert missing.fell_back


def test_our_format_by_query_and_video_scope(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({
        "The Dog  barks": {"attribute": "the dog", "action": "The dog barks."},
        "v2::the dog barks": {"attribute": "the brown dog", "action": "The dog barks loudly."},
    }))
    decomposer = PrecomputedDecomposer(path)
    assert decomposer.decompose("the dog barks").attribute == "the dog"
    assert decomposer.decompose("the dog barks", video_id="v2").attribute == "the brown dog"
    assert len(decomposer) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{oops", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"v.mp4": 3}), "entry 'v.mp4' must be an object"),
        (json.dumps({"v.mp4": {"foo": 1}}), "entry 'v.mp4' has neither"),
        (json.dumps({"v.mp4": {"decompose_attribute": [1]}}), "field 'decompose_attribute': expected a string"),
    ],
)
def test_bad_decomposition_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(QueryError, match=message) as err:
        PrecomputedDecomposer(path)
    assert "bad.json" in str(err.value)


def test_missing_decomposition_file(tmp_path):
    with pytest.raises(QueryError, match="not found"):
        PrecomputedDecomposer(tmp_path / "none.json")


# ---------------------------------------------------------------- MLLM
class ScriptedGenerator:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    def generate_text(self, prompt: str, max_new_tokens: int = 64) -> str:
        self.prompts.append(prompt)
        return self.answer


def test_mllm_decomposer_parses_strictly_and_caches():
    generator = ScriptedGenerator("Attribute: the girl in red.\nAction: The girl jumps.")
    decomposer = MLLMDecomposer(generator)
    parts = decomposer.decompose("The girl in red jumps.")
    assert parts == SubQueries(
        "the girl in red", "The girl jumps.", False, "mllm", raw=generator.answer
    )
    decomposer.decompose("The girl in red jumps.")
    assert len(generator.prompts) == 1
    assert "Sentence: The girl in red jumps." in generator.prompts[0]
    assert "The man in purple clothes" in generator.prompts[0]  # the paper's example is in the prompt


@pytest.mark.parametrize(
    "answer",
    [
        "The girl jumps.",
        "Attribute: the girl",
        "Attribute: a\nAttribute: b\nAction: c",
        "Action: The girl jumps.\nsomething else\nAttribute: x",
        "Attribute: .\nAction: The girl jumps.",
    ],
)
def test_mllm_decomposer_falls_back_on_malformed_answers(answer):
    parts = MLLMDecomposer(ScriptedGenerator(answer)).decompose("The girl in red jumps.")
    assert parts.fell_back and parts.attribute is None
    assert parts.raw == answer  # what the model said is kept, parsed or not


def test_parse_answer_ignores_trailing_chatter():
    assert parse_answer("Attribute: the cat.\nAction: The cat sleeps.\nHope this helps!") == ("the cat", "The cat sleeps.")


def test_mllm_decomposer_needs_a_generator():
    with pytest.raises(QueryError, match=r"^decomposer 'mllm': object cannot generate text"):
        MLLMDecomposer(object())


@pytest.mark.parametrize(
    "query",
    [
        "la femme à vélo",  # French
        "Die Frau mit dem Fahrrad fährt weg.",  # German
        "El niño español corre hacia la pelota.",  # Spanish
        "穿红衣服的男人坐下了",  # Chinese, no spaces
        "Le garçon au café s’assoit.",  # typographic apostrophe
    ],
)
def test_rule_splitter_never_changes_the_words_of_non_english_queries(query):
    """Whatever it splits (or not), every part is the query's own text, accents and spacing kept."""
    attribute, action = split_sentence(query)
    if attribute is not None:
        assert query.lower().startswith(attribute.lower())
    if action is not None:  # "The <head> <predicate>": every predicate word is the query's own
        assert all(word in query for word in action.rstrip(".").split()[2:])


def test_rule_splitter_keeps_accented_words_whole_in_english_sentences():
    assert split_sentence("The man in the café sits down.") == ("the man in the café", "The man sits down.")
    assert split_sentence("la femme à vélo") == ("la femme à vélo", None)  # once "la femmeà vé lo"


def test_rule_splitter_keeps_emoji_in_the_noun_phrase():
    assert split_sentence("The dog 🐕 runs to the ball.") == ("the dog 🐕", "The dog runs to the ball.")
