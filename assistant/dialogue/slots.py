"""Slot filling: which `SlotSet` events a user message implies, by the skills' slot mappings.

Rasa's mapping types: `from_entity` (the value of an extracted entity; a `list` slot takes all of
them), `from_text` (the whole message, only while a form asks for that slot), `from_intent` (a
fixed value when the intent matches), `from_trigger_intent` (the same, for the message that
starts a form). `conditions` restrict a mapping to an active form and, optionally, the slot that
form is asking for. While a form is active, its `ignored_intents` fill none of its required slots
(as if every mapping of those slots had them in `not_intent`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from assistant.dialogue.events import SlotSet, TrackerState
from assistant.messages import Parse
from assistant.skills.loader import Form, Slot, SlotMapping


def _conditions_hold(mapping: SlotMapping, state: TrackerState) -> bool:
    if not mapping.conditions:
        return True
    return any(
        (form is None or form == state.active_form)
        and (slot is None or slot == state.requested_slot)
        for form, slot in mapping.conditions
    )


def _value(slot: Slot, mapping: SlotMapping, parse: Parse, state: TrackerState) -> object:
    if mapping.type == "from_entity":
        values = [
            e.value
            for e in parse.entities
            if e.entity == mapping.entity
            and (mapping.role is None or getattr(e, "role", None) == mapping.role)
            and (mapping.group is None or getattr(e, "group", None) == mapping.group)
        ]
        if not values:
            return None
        return values if slot.type == "list" else values[0]
    if mapping.type == "from_text":
        # Free text fills a slot only when a form has just asked for exactly that slot;
        # otherwise every sentence would overwrite it.
        return parse.text if state.requested_slot == slot.name and parse.text.strip() else None
    if mapping.type == "from_intent":
        return mapping.value
    if mapping.type == "from_trigger_intent":
        # The message that starts a form: no form is active yet (the intent list was checked).
        return mapping.value if state.active_form is None else None
    return None  # "custom": a custom action sets it


def slot_events(
    slots: Iterable[Slot],
    parse: Parse,
    state: TrackerState,
    forms: Mapping[str, Form] | None = None,
) -> list[SlotSet]:
    events: list[SlotSet] = []
    intent = parse.intent.name
    form = (forms or {}).get(state.active_form or "")
    ignored = set(form.required_slots) if form and intent in form.ignored_intents else set()
    for slot in slots:
        if slot.name in ignored:
            continue
        for mapping in slot.mappings:
            if mapping.intent and intent not in mapping.intent:
                continue
            if intent in mapping.not_intent or not _conditions_hold(mapping, state):
                continue
            value = _value(slot, mapping, parse, state)
            if value is not None:
                events.append(SlotSet(name=slot.name, value=value))
                break
    return events
