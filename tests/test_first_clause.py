"""The reply's first audio from its first clause: a long first sentence is synthesized as its
first clause and then the rest, on the real espeak voice; short sentences stay whole."""

from __future__ import annotations

import asyncio

import pytest

from assistant.core.stage import StageContext
from assistant.messages import Reply, SpeechChunk
from assistant.stages.tts.espeak import EspeakParams, EspeakTTS
from assistant.text.sentences import split_first_clause

LONG = "I'm doing well today, thank you so much for asking me about it. And you?"


@pytest.mark.parametrize(
    ("sentence", "pieces"),
    [
        (
            "I'm doing well today, thank you so much for asking me about it.",
            ["I'm doing well today,", "thank you so much for asking me about it."],
        ),
        # Short: quick to synthesize whole.
        ("Okay, a ten minute timer, starting now.", ["Okay, a ten minute timer, starting now."]),
        # The first comma leaves too few words before it; the semicolon is the cut.
        (
            "Sure, the meeting with the design team starts at ten; bring the slides with you.",
            ["Sure, the meeting with the design team starts at ten;", "bring the slides with you."],
        ),
        # Commas inside numbers and colons inside times are no clause ends.
        (
            "There are 1,000 meters in a kilometer and 3:30 is half past three today.",
            ["There are 1,000 meters in a kilometer and 3:30 is half past three today."],
        ),
        # No cut leaves four words on each side.
        (
            "Well, that is a very good question to ask me, honestly.",
            ["Well, that is a very good question to ask me, honestly."],
        ),
    ],
)
def test_split_first_clause(sentence: str, pieces: list[str]) -> None:
    assert split_first_clause(sentence) == pieces
    assert " ".join(pieces) == sentence


def test_a_long_first_sentence_is_spoken_clause_first() -> None:
    async def run() -> list[SpeechChunk]:
        stage = EspeakTTS(name="tts", params=EspeakParams(), context=StageContext())
        await stage.start()
        reply = Reply(session_id="t", turn_id=1, text=LONG)
        chunks = [c async for c in stage.process(reply) if isinstance(c, SpeechChunk)]
        await stage.stop()
        return chunks

    chunks = asyncio.run(run())
    assert [c.text for c in chunks] == [
        "I'm doing well today,", "thank you so much for asking me about it.", "And you?",
    ]  # fmt: skip
    assert [c.final for c in chunks] == [False, False, True]
    assert all(len(c.pcm) > 0.3 * 2 * c.sample_rate for c in chunks)  # each is real speech
