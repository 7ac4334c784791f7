"""Event-sourced trackers, their stores and slot filling."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from assistant.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SlotSet,
    UnknownEventError,
    UserUttered,
    event_from_json,
)
from assistant.dialogue.slots import slot_events
from assistant.dialogue.store import InMemoryTrackerStore, SQLiteTrackerStore
from assistant.dialogue.tracker import Tracker
from assistant.messages import Entity, IntentScore, Parse
from assistant.skills.loader import Slot, SlotMapping

EVENTS = [
    UserUttered(text="set a timer", intent="set_timer", confidence=0.9),
    ActiveLoop(name="set_timer_form"),
    SlotSet(name="requested_slot", value="duration"),
    BotUttered(text="For how long?"),
    UserUttered(text="ten minutes", intent="set_timer",
                entities=({"entity": "duration", "value": 600, "start": 0, "end": 11},)),
    SlotSet(name="duration", value=600),
    ActiveLoop(name=None),
    ActionExecuted(name="action_set_timer"),
    ReminderScheduled(name="t1", intent="timer_done", trigger_at=time.time() + 600),
]


def test_state_is_derived_from_the_events() -> None:
    tracker = Tracker.from_events("s", EVENTS)
    state = tracker.state
    assert state.slots == {"duration": 600}  # deactivating the form cleared requested_slot
    assert state.active_form is None
    assert state.latest_action == "action_set_timer"
    assert state.latest_message is not None and state.latest_message.text == "ten minutes"
    assert set(state.reminders) == {"t1"}
    assert state.turns == 2
    tracker.extend([ReminderCancelled(name="t1"), SlotSet(name="duration", value=None)])
    assert tracker.state.reminders == {} and tracker.slots == {}
    tracker.extend([Restarted()])
    assert tracker.state.turns == 0 and tracker.state.latest_message is None


def test_a_restart_leaves_only_later_events_applied() -> None:
    hello = UserUttered(text="hi", intent="greet")
    tracker = Tracker.from_events("s", [*EVENTS, Restarted(), hello])
    assert tracker.applied_events == [hello]
    assert tracker.state.reminders == {} and tracker.slots == {}
    assert Tracker.from_events("s", EVENTS).applied_events == EVENTS


def test_events_survive_a_json_round_trip() -> None:
    for event in EVENTS:
        assert event_from_json(event.to_json()) == event
    with pytest.raises(UnknownEventError):
        event_from_json({"event": "teleported"})


def test_rasa_sdk_reminder_json_is_understood() -> None:
    event = event_from_json({
        "event": "reminder", "intent": "timer_done", "date_time": "2030-01-01T10:00:00+00:00",
        "name": "t2", "kill_on_user_msg": True, "entities": [{"entity": "x", "value": 1}],
    })
    assert isinstance(event, ReminderScheduled)
    assert event.kill_on_user_message and event.trigger_at == 1893492000.0


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_stores_keep_sessions_apart_and_in_order(tmp_path: Path, store_kind: str) -> None:
    def make() -> InMemoryTrackerStore | SQLiteTrackerStore:
        return InMemoryTrackerStore() if store_kind == "memory" else SQLiteTrackerStore(
            tmp_path / "t.sqlite")

    store = make()
    store.append("a", EVENTS[:3])
    store.append("b", EVENTS[3:4])
    store.append("a", EVENTS[3:])
    assert store.load("a") == EVENTS
    assert store.load("b") == EVENTS[3:4]
    assert store.load("nobody") == []
    if isinstance(store, SQLiteTrackerStore):
        store.close()
        assert SQLiteTrackerStore(tmp_path / "t.sqlite").load("a") == EVENTS  # a new process


def test_to_rasa_json_is_readable_by_rasa_sdk() -> None:
    from rasa_sdk import Tracker as RasaTracker

    rasa = RasaTracker.from_dict(Tracker.from_events("s", EVENTS).to_rasa_json())
    assert rasa.sender_id == "s"
    assert rasa.get_slot("duration") == 600
    assert rasa.latest_message["intent"]["name"] == "set_timer"
    assert list(rasa.get_latest_entity_values("duration")) == [600]


SLOTS = (
    Slot("duration", "float", mappings=(SlotMapping("from_entity", entity="duration"),)),
    Slot("items", "list", mappings=(SlotMapping("from_entity", entity="item"),)),
    Slot("note", "text", mappings=(
        SlotMapping("from_text", not_intent=("stop",), conditions=(("note_form", "note"),)),
    )),
    Slot("mood", "text", mappings=(SlotMapping("from_intent", intent=("greet",), value="good"),)),
)


def parse(text: str, intent: str, *entities: tuple[str, object, str]) -> Parse:
    return Parse(
        session_id="s", turn_id=1, text=text, intent=IntentScore(name=intent, confidence=1.0),
        entities=tuple(
            Entity(entity=name, value=value, text=said, start=text.find(said),
                   end=text.find(said) + len(said))
            for name, value, said in entities
        ),
    )


def test_slot_mappings() -> None:
    idle = Tracker("s").state
    message = parse("add milk and eggs", "add_to_list", ("item", "milk", "milk"),
                    ("item", "eggs", "eggs"))
    assert slot_events(SLOTS, message, idle) == [SlotSet(name="items", value=["milk", "eggs"])]
    timer = parse("ten minutes", "set_timer", ("duration", 600, "ten minutes"))
    assert slot_events(SLOTS, timer, idle) == [SlotSet(name="duration", value=600)]
    assert slot_events(SLOTS, parse("hi", "greet"), idle) == [SlotSet(name="mood", value="good")]
    # Free text fills a slot only while its form asks for it, and not when the user bails out.
    asking = Tracker.from_events("s", [ActiveLoop(name="note_form"),
                                       SlotSet(name="requested_slot", value="note")]).state
    assert slot_events(SLOTS, parse("buy a gift", "chitchat"), idle) == []
    assert slot_events(SLOTS, parse("buy a gift", "chitchat"), asking) == [
        SlotSet(name="note", value="buy a gift")
    ]
    assert slot_events(SLOTS, parse("never mind", "stop"), asking) == []
