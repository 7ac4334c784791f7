"""Fake stages for testing the bus and the pipeline machinery — never evidence that a feature
works (that is what the real-model tests are for)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from assistant.core.stage import Stage, StageParams
from assistant.messages import IntentScore, Message, Parse, Refusal, Reply, Said, Transcript
from assistant.records import last_of, parse_json
from assistant.stages import registry


class WordParser(Stage):
    """Takes the first word as the intent; raises on 'boom' to test error isolation."""

    kind: ClassVar[str] = "test-nlu"
    backend: ClassVar[str] = "first-word"
    consumes = (Transcript,)
    produces = (Parse,)

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        parse = last_of(Parse, produced)
        return parse_json(parse) if parse else {}

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Transcript)
        if "boom" in message.text:
            raise RuntimeError("the parser exploded")
        if "slow" in message.text:
            await asyncio.sleep(30)
        yield Parse(
            session_id=message.session_id,
            turn_id=message.turn_id,
            text=message.text,
            intent=IntentScore(name=message.text.split()[0], confidence=1.0),
        )


class EchoParams(StageParams):
    prefix: str = "you said"


class EchoResponder(Stage):
    kind: ClassVar[str] = "test-respond"
    backend: ClassVar[str] = "echo"
    consumes = (Parse,)
    produces = (Reply,)
    Params: ClassVar[type[StageParams]] = EchoParams
    params: EchoParams

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Parse)
        yield Reply(
            session_id=message.session_id,
            turn_id=message.turn_id,
            text=f"{self.params.prefix} {message.intent.name}",
        )


class BrokenLoader(Stage):
    kind: ClassVar[str] = "test-nlu"
    backend: ClassVar[str] = "broken-loader"
    consumes = (Transcript,)
    produces = (Parse,)

    def load(self) -> None:
        raise FileNotFoundError("model.bin is missing")

    async def process(self, message: Message) -> AsyncIterator[Message]:
        raise AssertionError("never reached")
        yield message


class RefusingGuard(Stage):
    """Answers 'forbidden ...' itself; passes anything else on."""

    kind: ClassVar[str] = "test-guard"
    backend: ClassVar[str] = "refuse-forbidden"
    consumes = (Transcript,)
    produces = (Transcript, Refusal)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Transcript)
        if message.text.startswith("forbidden"):
            yield Refusal(session_id=message.session_id, turn_id=message.turn_id, text="no")
        else:
            yield message


class Exclaimer(Stage):
    """Adds '!' to every reply: a stand-in for tone and filter stages."""

    kind: ClassVar[str] = "test-polish"
    backend: ClassVar[str] = "exclaim"
    consumes = (Reply, Refusal)
    produces = (Reply, Refusal)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Said)
        yield replace(message, text=message.text + "!")


for _cls in (WordParser, EchoResponder, BrokenLoader, RefusingGuard, Exclaimer):
    registry.add(_cls, "tests")
