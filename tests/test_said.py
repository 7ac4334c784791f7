"""The one streaming rule of reply-rewriting stages (`assistant.stages.said`): a new stage that
rewrites what the assistant says writes no code about pieces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import ClassVar

from assistant.core.stage import StageContext, StageParams
from assistant.messages import Interrupt, Message, Refusal, Reply, Said, SessionEnd
from assistant.stages.said import Piece, SaidStage


@dataclass
class Count:
    words: int = 0


class WordCounter(SaidStage[Count]):
    """Opens the words with "Well," and closes them with how many words were said."""

    kind: ClassVar[str] = "tone"
    backend: ClassVar[str] = "count"
    produces = (Reply, Refusal)

    def begin(self, said: Said, piece: Piece) -> Count:
        return Count()

    async def say(self, said: Said, state: Count, piece: Piece) -> AsyncIterator[Message]:
        state.words += len(said.text.split())
        text = f"Well, {said.text}" if piece.first else said.text
        if piece.last:
            text = f"{text} ({state.words} words)".strip()
        yield replace(said, text=text)


def counter() -> WordCounter:
    return WordCounter(name="count", params=StageParams(), context=StageContext())


def run(stage: WordCounter, *messages: Message) -> list[str]:
    async def scenario() -> list[str]:
        texts = []
        for message in messages:
            async for out in stage.process(message):
                assert isinstance(out, Said)
                texts.append(out.text)
        return texts

    return asyncio.run(scenario())


def piece(text: str, part: int, more: bool, *, session: str = "a", turn: int = 1) -> Reply:
    return Reply(session_id=session, turn_id=turn, text=text, part=part, more=more)


def test_a_whole_reply_is_its_first_and_last_piece() -> None:
    stage = counter()
    assert run(stage, Reply(session_id="a", turn_id=1, text="It is noon.")) == [
        "Well, It is noon. (3 words)"
    ]
    assert not stage.unfinished


def test_pieces_of_interleaved_sessions_each_keep_their_own_state() -> None:
    stage = counter()
    texts = run(
        stage,
        piece("One two.", 0, True, session="a"),
        piece("Uno.", 0, True, session="b"),
        piece("Three.", 1, True, session="a"),
        piece("", 1, False, session="b"),
        piece("", 2, False, session="a"),
    )
    assert texts == ["Well, One two.", "Well, Uno.", "Three.", "(1 words)", "(3 words)"]
    assert not stage.unfinished


def test_an_interrupted_reply_is_forgotten_and_the_next_turn_begins_afresh() -> None:
    stage = counter()
    run(stage, piece("One two.", 0, True, turn=1), piece("Other.", 0, True, session="b"))
    assert sorted(stage.unfinished) == [("a", 1), ("b", 1)]
    asyncio.run(stage.control(Interrupt(session_id="a", turn_id=1)))
    assert stage.unfinished == [("b", 1)]
    # The rest of turn 1 never comes; a piece that arrives anyway begins its words again.
    assert run(stage, piece("Late.", 1, False, turn=1)) == ["Well, Late. (1 words)"]
    asyncio.run(stage.control(SessionEnd(session_id="b", turn_id=1)))
    assert not stage.unfinished


def test_a_turn_that_ends_without_its_last_piece_is_forgotten() -> None:
    stage = counter()
    run(stage, piece("One.", 0, True, turn=3))

    async def end() -> list[Message]:
        return [m async for m in stage.end_turn("a", 3)]

    assert asyncio.run(end()) == [] and not stage.unfinished


def test_a_refusal_is_words_too() -> None:
    stage = counter()
    refusal = Refusal(session_id="a", turn_id=1, text="I can't help with that.", rule="x")
    assert run(stage, refusal) == ["Well, I can't help with that. (5 words)"]
