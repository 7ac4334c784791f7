"""A fake parser that takes its time on 'wait SECONDS ...', for the shutdown test of `assistant
serve` (a turn must be in flight when SIGTERM comes). Importing it registers it, with the fakes
of `tests.fakes` it answers through. Run a command with it:

    python -c "import sys, tests.slow_stage; from assistant.cli import main; sys.exit(main())" ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from assistant.core.stage import Stage
from assistant.messages import IntentScore, Message, Parse, Transcript
from assistant.stages import registry
from tests import fakes  # noqa: F401  (registers the echo responder)

MODELS = """
test-nlu:
  pause: {backend: pause}
test-respond:
  echo: {backend: echo}
"""

PIPELINE = """
input: text
skills: []
stages:
  - {kind: test-nlu, model: pause}
  - {kind: test-respond, model: echo}
"""


class PausingParser(Stage):
    """'wait 2 then go' waits 2 s, then takes the last word as the intent."""

    kind: ClassVar[str] = "test-nlu"
    backend: ClassVar[str] = "pause"
    consumes = (Transcript,)
    produces = (Parse,)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Transcript)
        words = message.text.split()
        if words[0] == "wait":
            await asyncio.sleep(float(words[1]))
        yield Parse(
            session_id=message.session_id,
            turn_id=message.turn_id,
            text=message.text,
            intent=IntentScore(name=words[-1], confidence=1.0),
        )


registry.add(PausingParser, "tests")
