"""Dialogue state tracking: one event-sourced tracker per session.

Each user `Parse` becomes a `UserUttered` event plus the `SlotSet` events the skills' slot
mappings imply; the responder's `DialogueUpdate` adds what it did. Every event is stored as it
happens (SQLite by default), so `--session ID` resumes a conversation after a restart, pending
timers included. Reminders (how timers end) fire from here: when one is due, the tracker records
it and publishes a proactive `DialogueState` carrying the reminder's intent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from assistant.core.paths import default_state_dir
from assistant.core.stage import Stage, StageParams
from assistant.dialogue.events import (
    BotUttered,
    Event,
    ReminderCancelled,
    ReminderScheduled,
    ReminderTriggered,
    Restarted,
    UserUttered,
)
from assistant.dialogue.slots import slot_events
from assistant.dialogue.store import InMemoryTrackerStore, SQLiteTrackerStore, TrackerStore
from assistant.dialogue.tracker import Tracker
from assistant.messages import (
    RESET,
    DialogueState,
    DialogueUpdate,
    Entity,
    IntentScore,
    Message,
    Parse,
    SessionEnd,
    SessionStart,
    TurnEnd,
    TurnStart,
)
from assistant.nlu.results import entities_to_json
from assistant.records import last_of, parse_json
from assistant.safety.pii import (
    DEFAULT_PII_ENTITIES,
    DEFAULT_SCORE_THRESHOLD,
    prefetch_analyzer,
    settle_analyzers,
    shared_pii_redactor,
)
from assistant.skills.loader import Slot, load_skills

log = logging.getLogger(__name__)


def default_store_path() -> Path:
    return default_state_dir() / "trackers.sqlite"


class TrackerParams(StageParams):
    store: Literal["sqlite", "memory"] = Field(
        "sqlite", description="sqlite keeps sessions across restarts; memory forgets them"
    )
    path: Path | None = Field(None, description="the SQLite file (default: XDG state dir)")
    redact_pii: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PII_ENTITIES),
        description="personal data removed from what is stored (the responder's words are "
        "stored before the filter stage sees them); [] stores everything as said",
    )


def entities_from_json(entities: Sequence[dict[str, object]]) -> tuple[Entity, ...]:
    return tuple(
        Entity(
            entity=str(e.get("entity", "")),
            value=e.get("value"),
            text=str(e.get("text", e.get("value", ""))),
            start=int(e.get("start", 0) or 0),  # type: ignore[call-overload]
            end=int(e.get("end", 0) or 0),  # type: ignore[call-overload]
            extractor=str(e.get("extractor", "")),
            role=None if e.get("role") is None else str(e["role"]),
            group=None if e.get("group") is None else str(e["group"]),
        )
        for e in entities
    )


class TrackerStage(Stage):
    kind: ClassVar[str] = "dst"
    backend: ClassVar[str] = "tracker"
    description: ClassVar[str] = "event-sourced tracker, slots from the skills' mappings"
    consumes = (Parse,)
    produces = (DialogueState,)
    feedback = (DialogueUpdate,)
    Params: ClassVar[type[StageParams]] = TrackerParams
    params: TrackerParams

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        """The slots after the turn, and the parse the dialogue went on (it may have been
        corrected, as a form's slot is)."""
        state = last_of(DialogueState, produced)
        if state is None:
            return {}
        return {**parse_json(state.parse), "slots": dict(state.slots)}

    def prefetch(self) -> None:
        prefetch_analyzer(self.params.redact_pii)

    async def settle(self) -> None:
        await asyncio.to_thread(settle_analyzers)

    def load(self) -> None:
        skills = load_skills(self.context.skill_dirs)
        self.slots: tuple[Slot, ...] = tuple(skills.slots.values())
        self.forms = skills.forms
        self.store: TrackerStore = (
            SQLiteTrackerStore(self.params.path or default_store_path())
            if self.params.store == "sqlite"
            else InMemoryTrackerStore()
        )
        self.redactor = (
            shared_pii_redactor(tuple(self.params.redact_pii), DEFAULT_SCORE_THRESHOLD)
            if self.params.redact_pii
            else None
        )
        self.trackers: dict[str, Tracker] = {}
        self.timers: dict[tuple[str, str], asyncio.Task[None]] = {}

    def tracker(self, session_id: str) -> Tracker:
        if session_id not in self.trackers:
            self.trackers[session_id] = Tracker.from_events(session_id, self.store.load(session_id))
        return self.trackers[session_id]

    def record(self, session_id: str, events: Sequence[Event]) -> Tracker:
        if self.redactor is not None:
            events = [self._redacted(event) for event in events]
        tracker = self.tracker(session_id)
        tracker.extend(events)
        self.store.append(session_id, events)
        return tracker

    def _redacted(self, event: Event) -> Event:
        assert self.redactor is not None
        if isinstance(event, UserUttered | BotUttered) and event.text:
            return replace(event, text=self.redactor.redact(event.text)[0])
        return event

    async def control(self, message: Message) -> None:
        if isinstance(message, SessionStart):
            tracker = await self.run_blocking(self.tracker, message.session_id)
            for reminder in list(tracker.state.reminders.values()):
                self.schedule(message.session_id, reminder)
        elif isinstance(message, SessionEnd):
            for key in [k for k in self.timers if k[0] == message.session_id]:
                self.timers.pop(key).cancel()
            if message.reason == RESET:  # forgotten for good: its timers, lists and slots
                await self.run_blocking(self.record, message.session_id, [Restarted()])
            self.trackers.pop(message.session_id, None)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        if isinstance(message, DialogueUpdate):
            await self.run_blocking(self.record, message.session_id, message.events)
            for event in message.events:
                if isinstance(event, ReminderScheduled):
                    self.schedule(message.session_id, event)
                elif isinstance(event, ReminderCancelled):
                    self.unschedule_matching(message.session_id, event)
            return
        assert isinstance(message, Parse)
        tracker = await self.run_blocking(self.tracker, message.session_id)
        events: list[Event] = [
            UserUttered(
                text=message.text,
                intent=message.intent.name,
                confidence=message.intent.confidence,
                entities=entities_to_json(message.entities),
            )
        ]
        events += slot_events(self.slots, message, tracker.state, self.forms)
        events += [
            ReminderCancelled(name=r.name)
            for r in tracker.state.reminders.values()
            if r.kill_on_user_message
        ]
        tracker = await self.run_blocking(self.record, message.session_id, events)
        for event in events:
            if isinstance(event, ReminderCancelled):
                self.unschedule_matching(message.session_id, event)
        # A negative turn is one a stage began itself (the records' consent question).
        yield self.state_message(tracker, message, proactive=message.turn_id < 0)

    def state_message(
        self, tracker: Tracker, parse: Parse, proactive: bool = False
    ) -> DialogueState:
        state = tracker.state
        return DialogueState(
            session_id=parse.session_id,
            turn_id=parse.turn_id,
            parse=parse,
            slots=tuple(state.slots.items()),
            active_form=state.active_form,
            requested_slot=state.requested_slot,
            events=tuple(tracker.applied_events),
            proactive=proactive,
        )

    # --- reminders -------------------------------------------------------------------------------

    def schedule(self, session_id: str, reminder: ReminderScheduled) -> None:
        self.unschedule(session_id, reminder.name)
        self.timers[(session_id, reminder.name)] = asyncio.create_task(
            self._fire(session_id, reminder), name=f"reminder-{reminder.name}"
        )

    def unschedule(self, session_id: str, name: str) -> None:
        task = self.timers.pop((session_id, name), None)
        if task is not None:
            task.cancel()

    def unschedule_matching(self, session_id: str, cancel: ReminderCancelled) -> None:
        """Stop the timers of the reminders a cancellation removed from the tracker."""
        pending = self.tracker(session_id).state.reminders
        for key in [k for k in self.timers if k[0] == session_id and k[1] not in pending]:
            self.timers.pop(key).cancel()

    async def _fire(self, session_id: str, reminder: ReminderScheduled) -> None:
        # A reminder that fell due while the assistant was not running fires at once.
        await asyncio.sleep(max(0.0, reminder.trigger_at - time.time()))
        self.timers.pop((session_id, reminder.name), None)
        turn = self.context.proactive_turn(session_id)
        parse = Parse(
            session_id=session_id,
            turn_id=turn,
            text="",
            intent=IntentScore(name=reminder.intent, confidence=1.0),
            entities=entities_from_json(reminder.entities),
        )
        events = [
            ReminderTriggered(name=reminder.name),
            UserUttered(text="", intent=reminder.intent, entities=reminder.entities),
        ]
        try:
            tracker = await self.run_blocking(self.record, session_id, events)
            # The timer's announcement is a turn of its own, begun here rather than at the input.
            await self.emit(TurnStart(session_id=session_id, turn_id=turn, origin=self.name))
            await self.emit(self.state_message(tracker, parse, proactive=True))
            await self.emit(TurnEnd(session_id=session_id, turn_id=turn))
        except Exception:
            log.exception("reminder %s of session %s could not fire", reminder.name, session_id)

    async def stop(self) -> None:
        for task in self.timers.values():
            task.cancel()
        self.timers.clear()
        await super().stop()
