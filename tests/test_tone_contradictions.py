"""The tone stage's additions never contradict the reply: no cheerful opener before an apology,
an "I don't know" or a refusal ("Sure thing! Sorry, I don't know." was said), and no offer of
help after a goodbye. With the shipped policy and the real VADER sentiment stage, and end to end
through `assistant chat` (MiniLM sentiment)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from assistant.core.stage import StageContext
from assistant.stages.sentiment.vader import VaderParams, VaderSentiment
from assistant.stages.tone.adjust import PolicyTone, ToneParams
from assistant.stages.tone.reply_kind import reply_kinds
from tests.chat import chat as assistant_chat
from tests.test_tone import HELP_OFFER, PERSONA, WARM_PHRASES, Conversation

HAPPY = "this is wonderful, I love it, thank you so much!"
UPSET = ["this is awful, I hate it", "everything is terrible and it keeps failing"]


@pytest.fixture(scope="module")
def sentiment() -> Iterator[VaderSentiment]:
    stage = VaderSentiment(name="sentiment", params=VaderParams(), context=StageContext())
    asyncio.run(stage.start())
    yield stage
    asyncio.run(stage.stop())


@pytest.fixture
def chat(sentiment: VaderSentiment) -> Iterator[Conversation]:
    """A user talking to the shipped tone policy, as in tests/test_tone.py."""
    tone = PolicyTone(name="tone", params=ToneParams(), context=StageContext())
    asyncio.run(tone.start())
    yield Conversation(sentiment, tone, "s1")
    asyncio.run(tone.stop())


def test_reply_kinds() -> None:
    assert reply_kinds("Sorry, I don't know.") == {"apology", "unknown"}
    assert reply_kinds("I don’t know that.") == {"unknown"}
    assert reply_kinds("That's beyond me for now. Try saying help.") == {"refusal"}
    assert reply_kinds("I can't book flights.") == {"refusal"}
    assert reply_kinds("Bye for now. Take care.") == {"farewell"}
    assert reply_kinds("Timer set for 5 minutes.") == frozenset()
    assert reply_kinds("I can set timers and keep your list.") == frozenset()


@pytest.mark.parametrize(
    ("reply", "intent"),
    [
        ("Sorry, I don't know.", "ask_fact"),
        ("I don't know that.", "ask_fact"),
        ("That's beyond me for now. Try saying help to hear my skills.", "out_of_scope"),
        ("Sorry, I can't book flights.", "out_of_scope"),
        ("Sorry, I couldn't do that just now. Please try again.", "set_timer"),
    ],
)
def test_no_cheerful_opener_before_an_apology_an_i_dont_know_or_a_refusal(
    chat: Conversation, reply: str, intent: str
) -> None:
    said = chat.say(HAPPY, reply, intent)
    assert said.tone is not None and said.tone.style == "warm"  # a cheerful user
    assert said.text == reply and said.tone.adjustments == ()


def test_a_plain_answer_to_a_cheerful_user_still_gets_the_persona_cheer(
    chat: Conversation,
) -> None:
    said = chat.say(HAPPY, "Timer set for five minutes.", "set_timer")
    assert said.tone is not None and said.tone.style == "warm"
    opener = said.text.removesuffix(" Timer set for five minutes.")
    assert opener in WARM_PHRASES and opener in PERSONA.style.phrases.cheerful


def test_no_help_offer_after_a_sad_goodbye(chat: Conversation) -> None:
    for line in UPSET:
        chat.say(line, "Okay.", "stop")
    # The help offer is due (first in this stretch of upset turns), but the reply ends the talk,
    # whatever the intent is called (a Rasa project's own "bye").
    for intent in ("goodbye", "bye"):
        said = chat.say("I'm so sad and tired of this, goodbye", "Bye for now. Take care.", intent)
        assert said.tone is not None and said.tone.style == "supportive"
        assert HELP_OFFER not in said.text and "offered help" not in said.tone.adjustments


def test_the_help_offer_still_comes_when_nothing_contradicts_it(chat: Conversation) -> None:
    chat.say(UPSET[0], "Okay.", "stop")
    said = chat.say(UPSET[1], "Sorry, I can't help with that yet.", "out_of_scope")
    assert said.tone is not None and said.tone.style == "supportive"
    assert said.text.endswith(HELP_OFFER)


def test_a_streamed_reply_is_judged_on_what_it_says(chat: Conversation) -> None:
    # The first piece says it does not know: no cheer before it.
    pieces = chat.say_in_pieces(HAPPY, ["I don't know, sorry.", "Ask me something else?"])
    assert pieces[0].text == "I don't know, sorry."
    # A goodbye in an earlier piece: no help offer after the last one.
    for line in UPSET:
        chat.say(line, "Okay.", "stop")
    pieces = chat.say_in_pieces(UPSET[0], ["Goodbye for now.", "Take it easy."], "chitchat")
    assert HELP_OFFER not in pieces[-1].text


def test_through_chat_a_cheerful_question_gets_a_plain_i_dont_know(assistant_bin: str) -> None:
    lines = [
        "I love this, it's wonderful! who won the 1998 world cup",
        "awesome, thanks so much! can you book me a flight to rome",
        "i feel awful today",
        "everything is going wrong, i'm so sad",
        "bye, i'm so sad",
    ]
    fact, booking, _, _, goodbye = assistant_chat(
        assistant_bin, lines, "--set", "dst=tracker-memory", timeout=600
    )
    for turn in (fact, booking):
        assert turn["tone"]["style"] == "warm", turn["tone"]
        assert not any(turn["text"].startswith(p) for p in WARM_PHRASES), turn["text"]
    assert goodbye["intent"]["name"] == "goodbye"
    assert goodbye["tone"]["style"] in ("calm", "supportive"), goodbye["tone"]
    assert HELP_OFFER not in goodbye["text"]
