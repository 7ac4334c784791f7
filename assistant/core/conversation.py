"""One conversation's view of a running pipeline: its turn ids, and when each turn is over.

A conversation numbers its turns, publishes each turn's input between a `TurnStart` and a
`TurnEnd`, and knows the turn is over when that `TurnEnd` has left every sink of the pipeline
(the stages no other stage reads from). Markers queue behind the messages before them, so by
then every stage has done everything of the turn; the conversation never waits on the bus as a
whole, so other conversations' work never delays it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from assistant.core.bus import Bus
from assistant.core.message import EndOfStream, Marker, Message, TurnEnd, TurnStart
from assistant.core.planner import INPUT, PipelinePlan

STREAM = "stream"  # the key of the wait for the stream's end, beside the turn ids


class Conversation:
    def __init__(self, bus: Bus, plan: PipelinePlan, session_id: str) -> None:
        self.bus = bus
        self.session_id = session_id
        self.sinks = frozenset(plan.sinks)
        self.turn_id = 0
        self._waiting: dict[int | str, tuple[asyncio.Future[None], set[str]]] = {}
        self._remove: Callable[[], None] = bus.observe(self._observe)

    def next_turn(self) -> int:
        self.turn_id += 1
        return self.turn_id

    def expect(self, key: int | str) -> asyncio.Future[None]:
        """A future that is done when turn `key`'s TurnEnd (or, for `STREAM`, the EndOfStream)
        has left every sink. Ask before publishing the input, so nothing is missed."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[key] = (future, set())
        return future

    def forget(self, key: int | str) -> None:
        """Stop waiting for a turn (it timed out); its markers are ignored when they come."""
        self._waiting.pop(key, None)

    async def publish_turn(self, turn_id: int, *messages: Message, origin: str = INPUT) -> None:
        """The turn's input, between its markers, sent as `origin`: the input, or a stage
        whose output the turn begins with (a typed turn of a spoken conversation is sent as
        its speech recognizer, so only the stages after it take part)."""
        session = self.session_id
        await self.bus.publish(
            TurnStart(session_id=session, turn_id=turn_id, origin=origin), origin
        )
        for message in messages:
            await self.bus.publish(message, origin)
        await self.bus.publish(TurnEnd(session_id=session, turn_id=turn_id), origin)

    async def end_stream(self) -> None:
        """End the input and wait until every stage has let go of what it held."""
        done = self.expect(STREAM)
        await self.bus.publish(
            EndOfStream(session_id=self.session_id, turn_id=self.turn_id), INPUT
        )
        await done

    def _observe(self, message: Message, sender: str) -> None:
        if (
            not isinstance(message, Marker)
            or message.session_id != self.session_id
            or sender not in self.sinks
        ):
            return
        if isinstance(message, TurnEnd):
            key: int | str = message.turn_id
        elif isinstance(message, EndOfStream):
            key = STREAM
        else:
            return
        waiting = self._waiting.get(key)
        if waiting is None:
            return
        future, ended = waiting
        ended.add(sender)
        if ended >= self.sinks:
            del self._waiting[key]
            if not future.done():
                future.set_result(None)

    def close(self) -> None:
        self._remove()
        for future, _ in self._waiting.values():
            future.cancel()
        self._waiting.clear()
