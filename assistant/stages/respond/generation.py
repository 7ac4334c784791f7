"""The chain's generation step: the language model answers its intents (chit-chat, by default).

Most turns never need the model, so it loads in a thread of its own when the first turn needs
it, or from the moment the stage is prefetched if the spec preloads it
(`GeneratorSpec.preloads`: by default only the slow-loading transformers runtime); a turn waits
only for what is left. Once loaded it writes one token, so that the first reply does not pay for
the shared prompt header (not when the session is already over). A turn's prompt carries the
session's earlier exchanges (`history`).

The model runs on the stage's worker thread (the `run_blocking` it is given), one call at a time.
A streamed reply is started here: when the step returns, the first sentence of a
`SentenceStream` is written, and the stage sends the rest as the model writes it (and stops the
model should the turn end early). A reply sent whole (streaming off, or a proactive turn) is
written here and capped for speech. Either way a sentence that states a fact (a number, a date,
a name: `assistant.generation.facts`) ends the reply before it: the model knows no facts worth
saying, and small talk needs none.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from assistant.core.background import InBackground
from assistant.dialogue.events import ActionExecuted, BotUttered, UserUttered
from assistant.generation import (
    STOP,
    Generator,
    GeneratorSpec,
    SentenceStream,
    build_prompt,
    cap_for_speech,
    load_generator,
)
from assistant.generation.facts import states_facts, until_a_fact
from assistant.messages import DialogueState
from assistant.persona import Persona, load_persona
from assistant.stages.respond.answer import Answer

R = TypeVar("R")


class RunBlocking(Protocol):
    """`Stage.run_blocking`: call `fn(*args)` on the stage's worker thread."""

    def __call__(self, fn: Callable[..., R], *args: Any) -> Awaitable[R]: ...


class Generation:
    """The language model as a step of the chain: loading starts when this is made."""

    def __init__(
        self,
        spec: GeneratorSpec,
        intents: frozenset[str],
        *,
        stream: bool,
        run_blocking: RunBlocking,
        persona: Persona | None = None,
    ) -> None:
        self.spec = spec
        self.persona = persona or load_persona()  # who the prompt says the assistant is
        self.intents = intents  # the intents the model answers
        self.stream = stream  # send the reply sentence by sentence as it is written
        self.run_blocking = run_blocking
        self._stopping = threading.Event()
        self._model_free = asyncio.Lock()
        self._load = InBackground(self._warm_model, name="the language model", start=False)

    def prefetch(self) -> None:
        """Begin loading the model in the background, if the spec says so (`preloads`); else
        the first turn that needs it does."""
        if self.spec.preloads:
            self._load.start()

    async def settle(self) -> None:
        """Before the process may end: skip the warm-up if it has not begun, and wait until the
        load is over (a native library still loading can crash the interpreter's shutdown)."""
        self._stopping.set()  # no warm-up: nothing will be said any more
        await asyncio.to_thread(self._load.settle)

    def _warm_model(self) -> Generator:
        generator = load_generator(self.spec)
        if self._stopping.is_set():
            return generator  # the session is over: no reply will need a warm model
        # One token now, so that the first reply does not pay for the shared prompt header.
        list(
            generator.generate(
                build_prompt("hi", "chitchat", {}, (), self.persona),
                max_tokens=1,
                stop=STOP,
                temperature=0.0,
            )
        )
        return generator

    async def step(self, state: DialogueState, answer: Answer) -> bool:
        """The chain step: True when the model answered (or began to: `answer.stream`)."""
        intent = state.parse.intent.name
        if intent not in self.intents:
            return False
        if not state.parse.text.strip():
            return False
        generator = await self.run_blocking(self._load.get)  # waits for what is left
        prompt = build_prompt(
            state.parse.text, intent, dict(state.slots), history(state), self.persona
        )
        # One model, one reply at a time. A streamed reply keeps the model (and the lock
        # inside its suspended generator) between sentences, across the turn's awaits: another
        # conversation's reply must wait here, not on the stage's only thread, where it would
        # block that thread for good. The chain releases it when the stream is over.
        await self._model_free.acquire()
        try:
            # A proactive reply is shown the moment it arrives (the chat prints it): sent whole.
            if self.stream and not state.proactive:
                started = await self._start_stream(generator, prompt, answer)
                if started:
                    answer.release = self._model_free.release
                return started
            text = await self.run_blocking(self._generate, generator, prompt)
        finally:
            if answer.release is None:
                self._model_free.release()
        if not text:
            return False  # nothing speakable came out: a template or the fallback answers
        answer.events.append(ActionExecuted(name="action_generate"))
        answer.say(text, "generation")
        return True

    async def _start_stream(self, generator: Generator, prompt: str, answer: Answer) -> bool:
        # The stage sends the first sentence and the rest as the model writes them; it also
        # stops the model should the turn end early.
        stream = answer.stream = SentenceStream(
            generator,
            prompt,
            max_tokens=self.spec.max_tokens,
            stop=STOP,
            temperature=self.spec.temperature,
            keep=self._states_no_facts,
        )
        if await self.run_blocking(stream.next_sentence) is None:
            answer.stream = None
            return False  # nothing speakable came out: a template or the fallback answers
        answer.events.append(ActionExecuted(name="action_generate"))
        answer.source = answer.source or "generation"
        return True

    def _generate(self, generator: Generator, prompt: str) -> str:
        text = "".join(
            generator.generate(
                prompt,
                max_tokens=self.spec.max_tokens,
                stop=STOP,
                temperature=self.spec.temperature,
            )
        )
        spoken = cap_for_speech(text, complete=generator.finish_reason == "stop")
        return until_a_fact(spoken, self.persona.name.split())

    def _states_no_facts(self, sentence: str) -> bool:
        """Small talk states no facts: a sentence with a number, a date or a name (other than
        the assistant's) ends the reply before it; if it is the first, a template answers."""
        return not states_facts(sentence, self.persona.name.split())


def history(state: DialogueState) -> list[tuple[str, str]]:
    """Earlier (user, assistant) exchanges of the session, for the generator's prompt."""
    pairs: list[tuple[str, str]] = []
    user: str | None = None
    for event in state.events[:-1]:  # the last UserUttered is the turn being answered
        if isinstance(event, UserUttered):
            user = event.text
        elif isinstance(event, BotUttered) and user:
            pairs.append((user, event.text))
            user = None
    return pairs
