"""The `memory` stage: each user's memory as slots of their conversations, and back.

It sits between the dialogue tracker and the responder. At every turn it reads the session's
user's memory from the store (`assistant.memory`) and adds `SlotSet` events for the memory slots
whose values the tracker does not already have, so the responder's rasa-sdk actions and
templates read them as any slot. The responder's `DialogueUpdate` comes back to it as feedback
(as to the tracker): the memory slots the actions set are written to the store for that user.

Why a stage of its own rather than the tracker: memory belongs to a user, the tracker's events
to a session. The added events go to the responder only and are never stored with the session,
and the store is read afresh each turn, so two conversations of one user (two terminals, a
browser and a voice satellite) agree, and what one forgets the other does not bring back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from assistant.core.stage import Stage, StageParams
from assistant.dialogue.events import SlotSet
from assistant.memory import WRITTEN_SLOTS, MemoryStore, apply_slots, slot_values
from assistant.memory.slots import same_value
from assistant.messages import DialogueState, DialogueUpdate, Message, SessionStart
from assistant.stages.records.consent import default_user

log = logging.getLogger(__name__)


class MemoryParams(StageParams):
    path: Path | None = Field(None, description="the memory store (default: XDG state dir)")
    key: Path | None = Field(
        None, description="the HMAC key users are found by, kept apart (default: the records' key)"
    )


class MemoryStage(Stage):
    kind: ClassVar[str] = "memory"
    backend: ClassVar[str] = "sqlite"
    description: ClassVar[str] = "per-user memory (name, units, facts) as slots, kept in SQLite"
    consumes = (DialogueState,)
    produces = (DialogueState,)
    feedback = (DialogueUpdate,)
    Params: ClassVar[type[StageParams]] = MemoryParams
    params: MemoryParams

    def load(self) -> None:
        self.store = MemoryStore(self.params.path, key_path=self.params.key)
        self.users: dict[str, str] = {}

    async def stop(self) -> None:
        if hasattr(self, "store"):
            await self.run_blocking(self.store.close)
        await super().stop()

    async def control(self, message: Message) -> None:
        if isinstance(message, SessionStart):
            self.users[message.session_id] = message.user or default_user(message.session_id)

    async def end_stream(self, session_id: str) -> AsyncIterator[Message]:
        # Not at SessionEnd, which jumps the queue: the last turn's update may still be on
        # its way here, and must be kept for the right user.
        self.users.pop(session_id, None)
        return
        yield

    def user(self, session_id: str) -> str:
        return self.users.get(session_id) or default_user(session_id)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        if isinstance(message, DialogueUpdate):
            changes = {
                e.name: e.value
                for e in message.events
                if isinstance(e, SlotSet) and e.name in WRITTEN_SLOTS
            }
            if changes:
                user = self.user(message.session_id)
                notes = await self.run_blocking(apply_slots, self.store, user, changes, time.time())
                # The tracker keeps these slots with the session: forgetting the user finds it.
                await self.run_blocking(self.store.note_session, user, message.session_id)
                log.debug("memory of session %s: %s", message.session_id, ", ".join(notes))
            return
        assert isinstance(message, DialogueState)
        memory = await self.run_blocking(self.store.recall, self.user(message.session_id))
        yield with_slots(message, slot_values(memory))


def with_slots(state: DialogueState, values: Mapping[str, Any]) -> DialogueState:
    """The state with `SlotSet`s after its events for the slots that differ from `values`."""
    slots = dict(state.slots)
    events = [
        SlotSet(name=name, value=value)
        for name, value in values.items()
        if not same_value(name, slots.get(name), value)
    ]
    if not events:
        return state
    for event in events:
        if event.value is None:
            slots.pop(event.name, None)
        else:
            slots[event.name] = event.value
    return replace(state, slots=tuple(slots.items()), events=(*state.events, *events))
