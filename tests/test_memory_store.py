"""The per-user memory store and its slots (assistant/memory), and the memory skill's wording
helpers: fast, no model is loaded. The conversations are in tests/test_memory_chat.py."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from rasa_sdk import Tracker

from assistant.dialogue.events import SlotSet, UserUttered
from assistant.memory import MemoryStore, MemoryStoreError, apply_slots, slot_values
from assistant.messages import DialogueState, IntentScore, Parse
from assistant.skills.memory.actions import facts_of, named_fact, tidy_name, told
from assistant.skills.units.actions import answer as units_answer
from assistant.stages.memory.sqlite import with_slots


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    with MemoryStore(tmp_path / "state" / "memory.sqlite", key_path=tmp_path / "key") as opened:
        yield opened


def on_disk(store: MemoryStore) -> bytes:
    """Every byte of the store's files (a journal too, if one were left)."""
    files = [store.path, *store.path.parent.glob(store.path.name + "-*")]
    return b"".join(path.read_bytes() for path in files if path.exists())


def test_each_user_has_their_own_memory_with_when_it_was_said(store: MemoryStore) -> None:
    store.set_name("sam", "Sam", 100.0)
    store.set_units("sam", "metric", 101.0)
    store.remember("sam", "my sister's birthday is May 3", 102.0)
    memory = store.recall("sam")
    assert (memory.name, memory.name_at) == ("Sam", 100.0)
    assert (memory.units, memory.units_at) == ("metric", 101.0)
    assert [(f.text, f.at) for f in memory.facts] == [("my sister's birthday is May 3", 102.0)]
    assert store.recall("alex").empty and not store.knows("alex")
    assert b"sam" not in on_disk(store).replace(b"Sam", b"")  # users are keyed, not named
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_fact_said_twice_is_kept_once(store: MemoryStore) -> None:
    first = store.remember("sam", "I'm vegetarian", 1.0)
    again = store.remember("sam", "i'm  VEGETARIAN", 2.0)
    assert again == first and len(store.recall("sam").facts) == 1


def test_forgetting_leaves_no_byte_of_it(store: MemoryStore) -> None:
    store.set_name("sam", "Samantha", 1.0)
    store.remember("sam", "my locker code is 4512", 2.0)
    store.remember("sam", "my sister's birthday is May 3", 3.0)
    store.remember("alex", "my cat is called Pixel", 4.0)
    store.set_name("sam", "Sam", 5.0)  # a new name replaces the old one for good
    assert b"Samantha" not in on_disk(store)
    assert store.forget("sam", "fact", "My locker code is 4512") == 1
    assert b"4512" not in on_disk(store) and b"May 3" in on_disk(store)
    assert store.forget_user("sam") == 2
    data = on_disk(store)
    assert b"May 3" not in data and b"sister" not in data and b"Sam" not in data
    assert store.recall("sam").empty and not store.knows("sam")
    assert [f.text for f in store.recall("alex").facts] == ["my cat is called Pixel"]


def test_a_file_that_is_not_a_memory_store_is_a_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.commit()
    db.close()
    with pytest.raises(MemoryStoreError, match="not a memory store"):
        MemoryStore(other, key_path=tmp_path / "config" / "key")
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(MemoryStoreError, match="damaged"):
        MemoryStore(tmp_path / "junk.sqlite", key_path=tmp_path / "config" / "key")


def test_slots_set_by_the_actions_are_kept_and_cleared(store: MemoryStore) -> None:
    fact = {"text": "my flight is on Friday", "at": 7.0}
    apply_slots(store, "sam", {"user_name": "Sam", "unit_system": "imperial"}, 5.0)
    apply_slots(store, "sam", {"user_memories": [fact]}, 6.0)
    memory = store.recall("sam")
    assert (memory.name, memory.units, memory.facts[0].at) == ("Sam", "imperial", 7.0)
    assert slot_values(memory) == {
        "user_name": "Sam", "unit_system": "imperial", "user_memories": [fact], "user_named": True,
    }  # fmt: skip
    apply_slots(store, "sam", {"unit_system": "furlongs"}, 8.0)  # not a unit system: ignored
    assert store.recall("sam").units == "imperial"
    apply_slots(store, "sam", {"user_memories": None, "user_name": None}, 9.0)
    assert store.recall("sam").facts == () and store.recall("sam").name is None
    apply_slots(store, "sam", {"unit_system": None}, 10.0)
    assert not store.knows("sam")


def state(*events: object, slots: tuple[tuple[str, object], ...] = ()) -> DialogueState:
    intent = IntentScore(name="greet", confidence=1.0)
    parse = Parse(session_id="s", turn_id=1, text="hi", intent=intent)
    return DialogueState(
        session_id="s",
        turn_id=1,
        parse=parse,
        slots=slots,
        events=events,  # type: ignore[arg-type]
    )


def test_the_stage_adds_only_the_memory_slots_the_session_lacks(store: MemoryStore) -> None:
    store.set_name("sam", "Sam", 1.0)
    said = UserUttered(text="hi", intent="greet")
    before = state(said, slots=(("user_name", "Sam"), ("shopping_list", ["milk"])))
    after = with_slots(before, slot_values(store.recall("sam")))
    assert after.events == (said, SlotSet(name="user_named", value=True))
    assert dict(after.slots) == {"user_name": "Sam", "shopping_list": ["milk"], "user_named": True}
    forgotten = with_slots(after, slot_values(store.recall("alex")))  # nothing kept: cleared
    assert dict(forgotten.slots) == {"shopping_list": ["milk"], "user_named": False}
    assert with_slots(forgotten, slot_values(store.recall("alex"))) is forgotten  # in step


def test_names_are_tidied_and_what_is_not_a_name_is_refused() -> None:
    assert tidy_name("alex from now on") == "Alex"
    assert tidy_name("Mei Ling, please") == "Mei Ling"
    assert tidy_name("tired") is None
    assert tidy_name("McDonald") == "McDonald"


def test_facts_are_said_back_to_the_user() -> None:
    assert told("my sister's birthday is May 3") == "your sister's birthday is May 3"
    assert told("I'm allergic to nuts and I am not") == "you're allergic to nuts and you are not"
    assert told("our anniversary is on the 14th") == "your anniversary is on the 14th"


def units_tracker(text: str, units: str | None) -> Tracker:
    message = {"text": text, "intent": {"name": "convert_units"}, "entities": []}
    return Tracker("s", {"unit_system": units}, message, [], False, None, {}, None)


@pytest.mark.parametrize(
    ("text", "units", "answer"),
    [
        ("convert 5 miles", "metric", "5 miles is 8.05 kilometers."),
        ("convert 5 miles", None, "5 miles is 8.05 kilometers."),  # the other system
        ("convert 10 kilometers", "metric", "10 kilometers is 6.21 miles."),  # already metric
        ("convert 2 kilos", "imperial", "2 kilograms is 4.41 pounds."),
        ("how much is 300 kelvin", "imperial", "300 kelvin is 80.33 degrees Fahrenheit."),
        ("what's 70 degrees", "metric", "70 degrees Fahrenheit is 21.11 degrees Celsius."),
        ("what's 20 degrees", "imperial", "20 degrees Celsius is 68 degrees Fahrenheit."),
        ("what's 20 degrees", None, "Which temperature scales do you mean, Celsius or Fahrenheit?"),
        ("convert 5 miles to meters", "imperial", "5 miles is 8,046.7 meters."),  # as asked
    ],
)
def test_a_conversion_without_a_target_uses_the_preferred_units(
    text: str, units: str | None, answer: str
) -> None:
    assert units_answer(units_tracker(text, units)) == answer


def test_a_time_without_a_target_is_a_question() -> None:
    assert units_answer(units_tracker("convert 90 minutes", "metric")).startswith("Into which")


def test_sessions_that_held_memory_are_known_until_the_user_is_forgotten(
    store: MemoryStore,
) -> None:
    store.remember("sam", "my flight is on Friday", 1.0)
    store.note_session("sam", "kitchen")
    store.note_session("sam", "kitchen")
    store.forget("sam", "fact", "my flight is on Friday")
    assert store.knows("sam") and store.sessions_of("sam") == ["kitchen"]  # still to delete
    assert store.sessions_of("alex") == []
    assert store.forget_user("sam", sessions=True) == 0
    assert not store.knows("sam") and store.sessions_of("sam") == []


def forget_tracker(text: str, facts: list[str]) -> Tracker:
    slots = {"user_memories": [{"text": f, "at": float(i)} for i, f in enumerate(facts)]}
    message = {"text": text, "intent": {"name": "forget_that"}, "entities": []}
    return Tracker("s", slots, message, [], False, None, {}, None)


def test_forget_that_finds_the_fact_named_and_only_that() -> None:
    facts = ["my bike is the red one", "my dog's name is Biscuit"]
    found = named_fact(
        forget_tracker("forget that my dog is called Biscuit", facts),
        facts_of(forget_tracker("", facts)),
    )
    assert found is not None and found["text"] == "my dog's name is Biscuit"
    for vague in ("forget that one please", "forget that last thing", "forget that"):
        tracker = forget_tracker(vague, facts)
        assert named_fact(tracker, facts_of(tracker)) is None, vague
