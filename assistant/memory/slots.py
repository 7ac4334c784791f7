"""Memory as dialogue slots, and slot changes as memory.

The `memory` skill's actions stay plain rasa-sdk: they read the slots `user_name`, `unit_system`
and `user_memories` (a list of `{"text", "at"}`) and change them with `SlotSet`. Whoever runs the
dialogue fills the slots from the store (`slot_values`) and writes back what the actions set
(`apply_slots`); `user_named` is derived, for templates' conditions (Rasa compares a slot with a
value, so "a name is known" needs a boolean of its own).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from assistant.memory.store import UNIT_SYSTEMS, Fact, Memory, MemoryStore

log = logging.getLogger(__name__)

USER_NAME = "user_name"
UNIT_SYSTEM = "unit_system"
USER_MEMORIES = "user_memories"
USER_NAMED = "user_named"
WRITTEN_SLOTS = (USER_NAME, UNIT_SYSTEM, USER_MEMORIES)
"""The slots whose changes are kept for the user."""
MEMORY_SLOTS = (*WRITTEN_SLOTS, USER_NAMED)


def slot_values(memory: Memory) -> dict[str, Any]:
    """The memory slots as the store has them (an empty list of facts is None, as an unset
    list slot is)."""
    facts = [{"text": f.text, "at": f.at} for f in memory.facts]
    return {
        USER_NAME: memory.name,
        UNIT_SYSTEM: memory.units,
        USER_MEMORIES: facts or None,
        USER_NAMED: memory.name is not None,
    }


def same_value(slot: str, current: Any, wanted: Any) -> bool:
    """Whether a slot already holds what the store has: an unset slot is no name, no list."""
    if slot == USER_MEMORIES:
        return _facts(current) == _facts(wanted)
    if slot == USER_NAMED:
        return bool(current) == bool(wanted)
    return (current or None) == (wanted or None)


def apply_slots(store: MemoryStore, user: str, changes: Mapping[str, Any], now: float) -> list[str]:
    """Keep what the turn's `SlotSet`s of the memory slots say (the last value of each):
    a new name or unit system, None to forget it, the list of facts with some added or taken
    out. What changed, as short notes for the log."""
    memory = store.recall(user)
    notes: list[str] = []
    if USER_NAME in changes:
        notes += _single(store, user, "name", memory.name, changes[USER_NAME], now)
    if UNIT_SYSTEM in changes:
        wanted = changes[UNIT_SYSTEM]
        if wanted is None or wanted in UNIT_SYSTEMS:
            notes += _single(store, user, "units", memory.units, wanted, now)
        else:
            log.warning("memory: unit system %r ignored (expected metric or imperial)", wanted)
    if USER_MEMORIES in changes:
        notes += _facts_changed(store, user, memory.facts, changes[USER_MEMORIES], now)
    if notes and store.recall(user).empty:
        store.forget_user(user)  # nothing left: no trace of the user either
    return notes


def _single(
    store: MemoryStore, user: str, kind: str, current: str | None, wanted: Any, now: float
) -> list[str]:
    wanted = str(wanted).strip() if wanted is not None else None
    if (wanted or None) == current:
        return []
    if not wanted:
        store.forget(user, "name" if kind == "name" else "units")
        return [f"{kind} forgotten"]
    if kind == "name":
        store.set_name(user, wanted, now)
    else:
        store.set_units(user, wanted, now)
    return [f"{kind} set"]


def _facts_changed(
    store: MemoryStore, user: str, kept: tuple[Fact, ...], wanted: Any, now: float
) -> list[str]:
    new = _facts(wanted, now)
    new_texts = {f.text.casefold() for f in new}
    notes = []
    for fact in kept:
        if fact.text.casefold() not in new_texts:
            store.forget(user, "fact", fact.text)
            notes.append("fact forgotten")
    kept_texts = {f.text.casefold() for f in kept}
    for fact in new:
        if fact.text.casefold() not in kept_texts:
            try:
                store.remember(user, fact.text, fact.at)
            except ValueError as exc:
                log.warning("memory: %s", exc)
                continue
            notes.append("fact remembered")
    return notes


def _facts(value: Any, now: float = 0.0) -> list[Fact]:
    """A `user_memories` value as facts: dicts of text and time, or plain strings."""
    if not isinstance(value, list):
        return []
    facts = []
    for item in value:
        if isinstance(item, dict):
            text, at = item.get("text"), item.get("at")
        else:
            text, at = item, None
        if not isinstance(text, str) or not text.strip():
            continue
        when = float(at) if isinstance(at, int | float) and math.isfinite(at) else now
        facts.append(Fact(" ".join(text.split()), when))
    return facts
