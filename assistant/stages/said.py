"""The one streaming rule of the stages that take what the assistant says (tone, filter, TTS).

Words may arrive in pieces (the language model's sentences as it writes them): `Said.part`
numbers them from 0 and `Said.more` says more follow. A `SaidStage` turns that into a `Piece`
(first? last?) and keeps one state per (session, turn) from the first piece to the last, made by
`begin` on the first piece. A subclass implements only `say(said, state, piece)`; it never reads
`part` or `more`.

A reply whose rest never comes (interrupted, the turn ended without it, the session ended) is
forgotten, so nothing is kept for turns that are over.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from assistant.core.stage import Stage, StageContext, StageParams
from assistant.messages import Interrupt, Message, Refusal, Reply, Said, SessionEnd

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Piece:
    """Where one message stands in the words of its turn (a whole reply is first and last)."""

    first: bool
    last: bool


class SaidStage(Stage, Generic[S]):
    """Base of the stages that consume `Reply` and `Refusal`, piece by piece."""

    consumes: ClassVar[tuple[type[Message], ...]] = (Reply, Refusal)

    def __init__(self, *, name: str, params: StageParams, context: StageContext) -> None:
        super().__init__(name=name, params=params, context=context)
        self._saying: dict[tuple[str, int], S] = {}  # turns whose last piece has not passed

    @property
    def unfinished(self) -> list[tuple[str, int]]:
        """The (session, turn)s whose words have begun and not ended."""
        return list(self._saying)

    def begin(self, said: Said, piece: Piece) -> S:
        """The state kept for one turn's words, made on their first piece (`piece.last`: the
        words are whole). Default: none."""
        return None  # type: ignore[return-value]

    @abstractmethod
    def say(self, said: Said, state: S, piece: Piece) -> AsyncIterator[Message]:
        """Handle one piece of words, yielding what it becomes."""

    def take(self, message: Message) -> None:
        """A consumed message that is not words (feedback such as a `Sentiment`). Default:
        ignored."""

    async def process(self, message: Message) -> AsyncIterator[Message]:
        if not isinstance(message, Said):
            self.take(message)
            return
        key = (message.session_id, message.turn_id)
        piece = Piece(first=message.part == 0 or key not in self._saying, last=not message.more)
        state = self.begin(message, piece) if piece.first else self._saying[key]
        if piece.last:
            self._saying.pop(key, None)
        else:
            self._saying[key] = state
        async for out in self.say(message, state, piece):
            yield out

    async def control(self, message: Message) -> None:
        if isinstance(message, SessionEnd):
            self._forget(message.session_id, None)
        elif isinstance(message, Interrupt):
            self._forget(message.session_id, message.turn_id)

    async def end_turn(self, session_id: str, turn_id: int) -> AsyncIterator[Message]:
        self._saying.pop((session_id, turn_id), None)
        return
        yield  # an async generator that yields nothing

    def _forget(self, session_id: str, up_to: int | None) -> None:
        for key in [k for k in self._saying if k[0] == session_id]:
            if up_to is None or key[1] <= up_to:
                del self._saying[key]
