"""Dialogue events: the conversation as an append-only log, as in Rasa.

A session's state (slots, the active form, the latest message, reminders) is never stored; it is
derived by applying the events in order (`TrackerState.apply`). Events serialize to the same JSON
shape Rasa uses (`{"event": "slot", "name": ..., "value": ...}`), so trackers can be persisted as
JSON rows and handed to rasa-sdk custom actions unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

JSON = dict[str, Any]

REQUESTED_SLOT = "requested_slot"


@dataclass
class TrackerState:
    """What the events add up to. Mutable only while events are being applied."""

    slots: dict[str, Any] = field(default_factory=dict)
    active_form: str | None = None
    latest_message: UserUttered | None = None
    latest_action: str | None = None
    latest_bot_text: str | None = None
    reminders: dict[str, ReminderScheduled] = field(default_factory=dict)
    turns: int = 0

    @property
    def requested_slot(self) -> str | None:
        value = self.slots.get(REQUESTED_SLOT)
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events. `type_name` is Rasa's `event` key."""

    type_name: ClassVar[str]
    timestamp: float = field(default_factory=time.time, compare=False)

    def apply(self, state: TrackerState) -> None:
        """Change the derived state; the default is an event that is history only."""

    def to_json(self) -> JSON:
        data: JSON = {"event": self.type_name}
        for f in fields(self):
            data[f.name] = getattr(self, f.name)
        return data

    # The wire form (core.wire) of an event inside a message: Rasa's JSON shape, which names
    # its own type, so that a field declared as `Event` can carry any event.
    def to_wire(self) -> JSON:
        return self.to_json()

    @classmethod
    def from_wire(cls, data: JSON) -> Event:
        if not isinstance(data, dict):
            raise UnknownEventError(f"an event is a JSON object, not {type(data).__name__}")
        event = event_from_json(data)
        if not isinstance(event, cls):
            raise UnknownEventError(f"event {data.get('event')!r} is not a {cls.__name__}")
        return event


@dataclass(frozen=True, slots=True, kw_only=True)
class UserUttered(Event):
    type_name: ClassVar[str] = "user"
    text: str
    intent: str
    confidence: float = 1.0
    entities: tuple[JSON, ...] = ()  # Rasa's entity dicts: entity, value, start, end

    def apply(self, state: TrackerState) -> None:
        state.latest_message = self
        state.turns += 1

    def to_json(self) -> JSON:
        return {
            "event": self.type_name,
            "timestamp": self.timestamp,
            "text": self.text,
            "parse_data": {
                "text": self.text,
                "intent": {"name": self.intent, "confidence": self.confidence},
                "entities": [dict(e) for e in self.entities],
            },
        }

    @classmethod
    def from_json(cls, data: JSON) -> UserUttered:
        parse = data.get("parse_data") or {}
        intent = parse.get("intent") or {}
        return cls(
            timestamp=_timestamp(data),
            text=data.get("text") or "",
            intent=intent.get("name") or "",
            confidence=float(intent.get("confidence") or 0.0),
            entities=tuple(parse.get("entities") or ()),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotSet(Event):
    type_name: ClassVar[str] = "slot"
    name: str
    value: Any = None

    def apply(self, state: TrackerState) -> None:
        if self.value is None:
            state.slots.pop(self.name, None)
        else:
            state.slots[self.name] = self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveLoop(Event):
    """A form was activated (`name`) or deactivated (`name` is None); Rasa's `active_loop`."""

    type_name: ClassVar[str] = "active_loop"
    name: str | None = None

    def apply(self, state: TrackerState) -> None:
        state.active_form = self.name
        if self.name is None:
            state.slots.pop(REQUESTED_SLOT, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionExecuted(Event):
    type_name: ClassVar[str] = "action"
    name: str

    def apply(self, state: TrackerState) -> None:
        state.latest_action = self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class BotUttered(Event):
    type_name: ClassVar[str] = "bot"
    text: str
    # What a client may show besides the words, in Rasa's shape (buttons, image, custom).
    data: JSON | None = None

    def apply(self, state: TrackerState) -> None:
        state.latest_bot_text = self.text


@dataclass(frozen=True, slots=True, kw_only=True)
class Restarted(Event):
    """Forget everything before this point (`/reset`, "start over")."""

    type_name: ClassVar[str] = "restart"

    def apply(self, state: TrackerState) -> None:
        fresh = TrackerState()
        for f in fields(TrackerState):
            setattr(state, f.name, getattr(fresh, f.name))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderScheduled(Event):
    """Trigger `intent` at `trigger_at` (epoch seconds) unless cancelled first: how timers end."""

    type_name: ClassVar[str] = "reminder"
    name: str
    intent: str
    trigger_at: float
    entities: tuple[JSON, ...] = ()
    kill_on_user_message: bool = False

    def apply(self, state: TrackerState) -> None:
        state.reminders[self.name] = self


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderCancelled(Event):
    """Cancel the reminder called `name`, or (Rasa's form without a name) every reminder of
    `intent`."""

    type_name: ClassVar[str] = "cancel_reminder"
    name: str | None = None
    intent: str | None = None

    def matches(self, reminder: ReminderScheduled) -> bool:
        if self.name is not None:
            return reminder.name == self.name
        return self.intent is None or reminder.intent == self.intent

    def apply(self, state: TrackerState) -> None:
        for name in [n for n, r in state.reminders.items() if self.matches(r)]:
            del state.reminders[name]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderTriggered(Event):
    """A reminder fired; it is no longer pending."""

    type_name: ClassVar[str] = "reminder_triggered"
    name: str

    def apply(self, state: TrackerState) -> None:
        state.reminders.pop(self.name, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackGiven(Event):
    """The user rated the reply of turn `turn` (a browser's thumbs up/down or flag): history
    only, kept with the conversation for review and learning. Not one of Rasa's events."""

    type_name: ClassVar[str] = "feedback"
    turn: int
    rating: str  # "up", "down" or "flag"
    comment: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls
    for cls in (
        UserUttered,
        SlotSet,
        ActiveLoop,
        ActionExecuted,
        BotUttered,
        Restarted,
        ReminderScheduled,
        ReminderCancelled,
        ReminderTriggered,
        FeedbackGiven,
    )
}


class UnknownEventError(ValueError):
    pass


def event_from_json(data: JSON) -> Event:
    """Read one event in Rasa's JSON shape (also what rasa-sdk actions return)."""
    kind = data.get("event")
    cls = EVENT_TYPES.get(str(kind))
    if cls is None:
        raise UnknownEventError(f"unknown event type {kind!r}")
    if cls is UserUttered:
        return UserUttered.from_json(data)
    if cls is ReminderScheduled:
        return _reminder_from_json(data)
    if cls is ReminderCancelled:
        intent = data.get("intent")
        return ReminderCancelled(
            timestamp=_timestamp(data),
            name=data.get("name"),
            intent=data.get("intent_name") if intent is None else intent,
        )
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known and v is not None})


def _timestamp(data: JSON) -> float:
    """rasa-sdk sends `"timestamp": None` for "now"; 0.0 is a time like any other."""
    value = data.get("timestamp")
    return time.time() if value is None else float(value)


def _entity_list(entities: Any) -> tuple[JSON, ...]:
    """Rasa accepts reminder entities as a list of entity dicts or as a {name: value} dict."""
    if isinstance(entities, dict):
        return tuple({"entity": k, "value": v} for k, v in entities.items())
    return tuple(entities or ())


def _reminder_from_json(data: JSON) -> ReminderScheduled:
    """rasa-sdk writes `date_time` (ISO) and `kill_on_user_msg`; our own JSON `trigger_at`."""
    trigger_at = data.get("trigger_at")
    if trigger_at is None:
        trigger_at = datetime.fromisoformat(data["date_time"]).timestamp()
    name = data.get("name")
    return ReminderScheduled(
        timestamp=_timestamp(data),
        name=f"reminder-{trigger_at}" if name is None else name,
        intent=data.get("intent") or "",
        trigger_at=float(trigger_at),
        entities=_entity_list(data.get("entities")),
        kill_on_user_message=bool(
            data.get("kill_on_user_message", data.get("kill_on_user_msg", False))
        ),
    )
