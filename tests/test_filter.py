"""The response filter on the real models (better-profanity's list, the MiniLM toxicity
classifier, Presidio with spaCy): replies are cleaned before they reach the user, harmless
look-alikes and the assistant's everyday replies pass untouched, and every change is recorded
with its span. End to end through `assistant chat --json` as well."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.core.errors import MissingModelError
from assistant.core.stage import StageContext
from assistant.messages import Reply, TextChange
from assistant.nlu.labelled import load_labelled
from assistant.persona import load_persona
from assistant.safety import apply_changes
from assistant.safety.toxicity import (
    DEFAULT_REPLACEMENT,
    TOXICITY_EXAMPLES,
    ProfanityList,
    mask,
    sentence_spans,
)
from assistant.skills.loader import load_skills
from assistant.stages.filter.safety import SafetyFilter, SafetyFilterParams
from tests.chat import chat_run

ROOT = Path(__file__).resolve().parents[1]
TEST_SET = ROOT / "benchmarks" / "data" / "filter_test.yml"
CARD = "4111 1111 1111 1111"

# Sentences this file tests; like the benchmark's, none may be a training example.
LOOK_ALIKES = [
    "Okay, kill the timer.",
    "That's a killer deal!",
    "Scunthorpe is a town in North Lincolnshire.",
    "I'm dying to know how the film ends.",
    "The cocktail menu changes every season.",
    "The gay and lesbian film festival starts on Friday.",
    "I hate waiting for the kettle.",
    "My phone is dead, so I'll charge it.",
]
INSULTS = [
    "You are a pathetic little nobody.",
    "Honestly, nobody could stand being around you.",
    "You're utterly useless.",
    "Nobody could ever like someone as dull as you.",
]
OTHERS = [
    "Tell that retard to wait his turn.",
    "Foreigners like that are vermin.",
    "Your list has shit, milk and eggs.",
]


class RunningFilter:
    def __init__(self, **params: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.stage = SafetyFilter(
            name="filter",
            params=SafetyFilterParams.model_validate(params),
            context=StageContext(),
        )
        self.loop.run_until_complete(self.stage.start())

    def __call__(self, text: str, **fields: object) -> Reply:
        reply = Reply(session_id="test", turn_id=1, text=text, **fields)  # type: ignore[arg-type]
        outputs = self.loop.run_until_complete(self._collect(reply))
        assert len(outputs) == 1
        return outputs[0]

    async def _collect(self, reply: Reply) -> list[Reply]:
        outputs = [output async for output in self.stage.process(reply)]
        assert all(isinstance(output, Reply) for output in outputs)
        return outputs  # type: ignore[return-value]

    def close(self) -> None:
        self.loop.run_until_complete(self.stage.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def clean() -> Iterator[RunningFilter]:
    running = RunningFilter()
    yield running
    running.close()


def spans(text: str, changes: tuple[TextChange, ...]) -> list[tuple[str, str]]:
    """(rule, original words) of each change."""
    return [(c.rule, text[c.start : c.end]) for c in changes]


# --- an LLM reply is cleaned before it reaches the user -----------------------------------------


def test_a_generated_reply_with_an_insult_and_a_card_number_is_cleaned(
    clean: RunningFilter,
) -> None:
    text = f"You are a worthless idiot. Your card number is {CARD}, so write it down."
    out = clean(text, source="generation", intent="chitchat")
    assert out.text == f"{DEFAULT_REPLACEMENT} Your card number is [card number], so write it down."
    assert (out.source, out.intent) == ("generation", "chitchat")
    assert spans(text, out.changes) == [
        ("toxicity:insult", "You are a worthless idiot."),
        ("pii:CREDIT_CARD", CARD),
    ]
    assert out.text == apply_changes(text, out.changes)


def test_a_generated_reply_with_a_slur_is_cleaned(clean: RunningFilter) -> None:
    text = "Tell that retard to wait his turn. Your timer is set for ten minutes."
    out = clean(text, source="generation")
    assert out.text == "Tell that r***** to wait his turn. Your timer is set for ten minutes."
    assert spans(text, out.changes) == [("profanity", "retard")]


def test_hate_without_a_listed_word_is_replaced(clean: RunningFilter) -> None:
    text = "Foreigners like that are vermin. Anyway, the shop opens at nine."
    out = clean(text, source="generation")
    assert out.text == f"{DEFAULT_REPLACEMENT} Anyway, the shop opens at nine."
    assert spans(text, out.changes) == [("toxicity:hate", "Foreigners like that are vermin.")]


@pytest.mark.parametrize("insult", INSULTS)
def test_an_insult_without_swear_words_is_replaced(clean: RunningFilter, insult: str) -> None:
    text = f"Your list has eggs and milk. {insult}"
    out = clean(text)
    assert out.text == f"Your list has eggs and milk. {DEFAULT_REPLACEMENT}"
    assert [c.rule for c in out.changes] == ["toxicity:insult"]
    assert text[out.changes[0].start : out.changes[0].end] == insult


def test_a_reply_that_is_all_insult_becomes_one_replacement_never_empty(
    clean: RunningFilter,
) -> None:
    text = "You're utterly useless. Nobody could ever like someone as dull as you."
    out = clean(text)
    assert out.text == DEFAULT_REPLACEMENT
    assert len(out.changes) == 1 and (out.changes[0].start, out.changes[0].end) == (0, len(text))


# --- profanity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("Your list has shit, milk and eggs.", "Your list has s***, milk and eggs."),
        ("Well, sh1t happens.", "Well, s*** happens."),
        ("What the f*ck is that?", "What the f*** is that?"),
        ("That's bull shit, honestly.", "That's b*** s***, honestly."),
        ("Damn, the toast burned.", "D***, the toast burned."),
    ],
)
def test_profanity_is_masked_keeping_the_first_letter(
    clean: RunningFilter, text: str, cleaned: str
) -> None:
    out = clean(text)
    assert out.text == cleaned
    assert all(c.rule == "profanity" for c in out.changes)
    assert all(c.replacement == mask(text[c.start : c.end]) for c in out.changes)


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_harmless_look_alikes_are_untouched(clean: RunningFilter, text: str) -> None:
    out = clean(text)
    assert (out.text, out.changes) == (text, ())


# Replies the skills' actions write (memory read back, a form's complaint), which no template holds.
ACTION_REPLIES = [
    "I remember that you don't eat meat.",
    "Here's what I know about you. Your name is Sam. You prefer metric units.",
    "Okay, I've forgotten that your sister's birthday is May 3.",
    "The number of people must be a whole number above zero.",
]


def test_the_assistants_own_replies_pass_untouched(clean: RunningFilter) -> None:
    """Every template, its placeholders filled as the persona and a user named Sam fill them,
    and replies the actions write: a false alarm would replace a right answer."""
    responses = load_skills((BUILTIN_SKILLS_DIR,)).responses
    values = {**load_persona().template_values(), "user_name": "Sam"}
    filled = {
        re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], "Sam"), text)
        for variants in responses.values()
        for text in variants
    }
    texts = sorted(filled) + ACTION_REPLIES
    changed = [(text, clean(text).text) for text in texts if clean(text).text != text]
    assert changed == []


@pytest.mark.parametrize(
    "text",
    [
        "Okay, set a timer for ten minutes.",
        "It is 5:30 pm.",
        "17 times 23 is 391.",
        "3 inches is 7.62 centimeters.",
    ],
)
def test_times_sums_and_conversions_are_untouched(clean: RunningFilter, text: str) -> None:
    assert clean(text).changes == ()


def test_earlier_changes_are_kept_and_a_timer_announcement_is_filtered(
    clean: RunningFilter,
) -> None:
    earlier = TextChange("tone:acknowledged", 0, 0, "I hear you. ")
    out = clean("Your shit timer is done.", proactive=True, changes=(earlier,))
    assert out.proactive and out.text == "Your s*** timer is done."
    assert out.changes == (earlier, TextChange("profanity", 5, 9, "s***"))


def test_an_unchanged_reply_is_passed_on_as_it_is(clean: RunningFilter) -> None:
    reply = Reply(session_id="test", turn_id=1, text="Hello! How can I help?")
    outputs = clean.loop.run_until_complete(clean._collect(reply))
    assert outputs == [reply]


# --- configuration -------------------------------------------------------------------------------


def test_detectors_can_be_switched_off() -> None:
    words_only = RunningFilter(pii_entities=[], toxicity_threshold=None)
    try:
        assert words_only.stage.pii is None and words_only.stage.toxicity.classifier is None
        out = words_only(f"You are a worthless idiot. Shit, it's {CARD}.")
        assert out.text == f"You are a worthless idiot. S***, it's {CARD}."
    finally:
        words_only.close()


def test_custom_replacements() -> None:
    custom = RunningFilter(
        profanity=False,
        replacement_sentence="I'd rather not say that.",
        pii_replacements={"CREDIT_CARD": "a card number"},
    )
    try:
        out = custom(f"Shit, it's {CARD}. Nobody will ever love you.")
        assert out.text == "Shit, it's a card number. I'd rather not say that."
    finally:
        custom.close()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pii_entities": ["CREDIT_CARDS"]}, "unknown entity CREDIT_CARDS"),
        ({"pii_replacements": {"EMAIL_ADDRESS": " "}}, "must say something"),
        ({"replacement_sentence": ""}, "at least 1 character"),
        ({"toxicity_threshold": 0}, "greater than 0"),
        ({"profanty": True}, "Extra inputs are not permitted"),
    ],
)
def test_bad_params_are_config_errors(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SafetyFilterParams.model_validate(params)


def test_missing_word_list_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "better_profanity", None)
    with pytest.raises(MissingModelError, match="pip install better-profanity"):
        ProfanityList()


# --- pieces --------------------------------------------------------------------------------------


def test_sentence_spans_point_into_the_original_text() -> None:
    text = "  Hello there.\n\nIt's 5 p.m. now!  Bye "
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Hello there.",
        "It's 5 p.m. now!",
        "Bye",
    ]


def test_apply_changes_rejects_overlaps() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        apply_changes("abcdef", [TextChange("a", 0, 3, "x"), TextChange("b", 2, 4, "y")])


def test_test_sets_do_not_overlap_the_training_examples() -> None:
    def normal(text: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())

    training = {normal(t) for ts in load_labelled(TOXICITY_EXAMPLES).values() for t in ts}
    data = yaml.safe_load(TEST_SET.read_text(encoding="utf-8"))
    held_out = [t for ts in data["toxicity"]["toxic"].values() for t in ts]
    held_out += data["toxicity"]["clean"] + data["ordinary_replies"]
    held_out += [case["text"] for case in data["pii"]] + LOOK_ALIKES + INSULTS + OTHERS
    sentences = {normal(text[s:e]) for text in held_out for s, e in sentence_spans(text)}
    assert sentences & training == set()
    assert len(data["ordinary_replies"]) >= 60


# --- end to end: assistant chat --json ------------------------------------------------------------


def test_chat_json_filters_a_sworn_shopping_item_and_documents_personal_data(
    assistant_bin: str, tmp_path: Path
) -> None:
    # The default text pipeline ends with the filter stage.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "billing.md").write_text(
        "# Billing\n\n"
        f"The household credit card for online orders is {CARD}, kept by Sam.\n\n"
        "Questions about the electricity bill go to billing@brightpower.example.com, the "
        "supplier's account team.\n"
    )
    turns = [
        "add shit to my shopping list",
        "what's on my list",
        "what is the credit card for online orders",
        "who do I email about the electricity bill",
    ]
    said = chat_run(
        assistant_bin, turns, "--set", "dst=tracker-memory", "--knowledge", str(docs),
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout=600,
    )[0]  # fmt: skip
    added, listed, card, email = said

    for turn in (added, listed):  # the swear word is not read back verbatim
        assert "shit" not in turn["text"].lower() and "s***" in turn["text"]
        assert [(c["on"], c["rule"], c["replacement"]) for c in turn["filter"]] == [
            ("reply", "profanity", "s***")
        ]
        assert "filter" in turn["timings_ms"]
    assert listed["intent"]["name"] == "show_list"

    assert card["source"] == "knowledge"
    assert CARD not in card["text"] and "[card number]" in card["text"]
    assert [c["rule"] for c in card["filter"]] == ["pii:CREDIT_CARD"]
    assert email["source"] == "knowledge"
    assert "@" not in email["text"] and "[email address]" in email["text"]
    assert [c["rule"] for c in email["filter"]] == ["pii:EMAIL_ADDRESS"]
    printed = json.dumps(said)
    assert CARD not in printed and "billing@" not in printed
