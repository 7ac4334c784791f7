"""What a turn refers to, resolved against the dialogue state before the chain answers.

- "Cancel it" is understood as `stop`, which ends an active form; with no form asking and a timer
  running, "it" is the timer: the turn becomes `cancel_timer`, whose action cancels the one timer
  or asks which of several; "never mind" right after that question is not asked again.
- The answer to the timers' question ("Which one should I cancel?" or "... change?") goes
  back to the action that asked when it names a running timer ("the twenty minute one", which
  alone reads as setting one) or all of them; "never mind" lets the question go.
- The answer to the shopping list's question ("Which one should I take off: oat milk or soy
  milk?" -> "the oat one", "both") goes back to the action that asked, whatever intent the
  words alone were understood as ("oat milk" alone reads as adding it).
- "Make it ten" (a bare number, no unit) changes what the conversation just spoke of: the timer
  just set or asked about becomes ten of the unit it was counted in (eight minutes -> ten
  minutes, an hour and a half -> ten hours), and the item just added becomes ten of it (two
  lemons -> ten lemons, intent `change_quantity`). "Just" is the last two turns; older than
  that, "it" is not guessed at and the words are understood as they are.

A rewritten turn keeps its words; its intent and entities (and the slots they fill) are changed
in the state and in its `UserUttered` event, which the actions read.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any

from assistant.dialogue.events import ActionExecuted, Event, SlotSet, UserUttered
from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState, IntentScore
from assistant.nlu.numbers import parse_duration, parse_number
from assistant.nlu.results import Entity, entities_to_json
from assistant.skills.shopping.resolve import pick

STOP, CANCEL_TIMER, TIMER_DONE = "stop", "cancel_timer", "timer_done"
SET_TIMER, CHANGE_QUANTITY = "set_timer", "change_quantity"
_TIMER_ACTIONS = frozenset({"action_set_timer", "action_timer_status"})
_LIST_ACTIONS = frozenset({"action_add_to_list", "action_change_quantity"})
_QUESTIONS = {"remove": "action_remove_from_list", "count": "action_change_quantity"}
_RECENT_TURNS = 2
# "make it ten", "change that to 12", "no, make it three instead"
_MAKE_IT = re.compile(
    r"^\W*(?:(?:ok(?:ay)?|actually|no|oh|sorry|wait)\W+)*(?:make|change|set|switch|turn)\s+"
    r"(?:it|that|this|them)\s+(?:to\s+|into\s+)?(?P<count>.+?)"
    r"(?:\s+(?:instead|please|then))*\W*$",
    re.IGNORECASE,
)
_UNITS = (3600, 60, 1)
_ALL = re.compile(r"\b(all|every|everything|both)\b", re.IGNORECASE)


def resolved(state: DialogueState) -> DialogueState:
    if state.proactive:
        return state
    for rule in (_cancel_it, _answer_to_timer_question, _answer_to_list_question, _make_it):
        changed = rule(state)
        if changed is not None:
            return changed
    return state


def _cancel_it(state: DialogueState) -> DialogueState | None:
    if state.parse.intent.name != STOP or state.active_form is not None:
        return None
    if _last_action(state) == f"action_{CANCEL_TIMER}" or _timer_question(state) is not None:
        return None  # the answer to "which one should I cancel?": let it go
    if _list_question(state) is not None:
        return None  # "never mind" to "which one should I take off?" is not about a timer
    reminders = Tracker.from_events(state.session_id, state.events).state.reminders
    if not any(r.intent == TIMER_DONE for r in reminders.values()):
        return None
    return _as_intent(state, CANCEL_TIMER)


def _answer_to_timer_question(state: DialogueState) -> DialogueState | None:
    question = _timer_question(state)
    if question is None:
        return None
    timers = _running_timers(state)
    named = [
        e.value
        for e in state.parse.entities
        if e.entity == "duration"
        and isinstance(e.value, int | float)
        and any(abs(float(t["seconds"]) - float(e.value)) < 1 for t in timers)
    ]
    if question == "cancel" and (named or _ALL.search(state.parse.text)):
        return _as_intent(state, CANCEL_TIMER)
    if question == "change" and named:
        return _as_intent(state, SET_TIMER, slots={"duration": named[0]})
    return None


def _timer_question(state: DialogueState) -> str | None:
    """ "cancel" or "change": what the timers asked in the turn before, if they asked."""
    question = state.slot("timer_question")
    ask = question.get("ask") if isinstance(question, dict) else None
    asked_by = {"cancel": f"action_{CANCEL_TIMER}", "change": "action_set_timer"}.get(str(ask))
    return str(ask) if asked_by is not None and _last_action(state) == asked_by else None


def _answer_to_list_question(state: DialogueState) -> DialogueState | None:
    found = _list_question(state)
    if found is None or not pick(state.parse.text, found[1]):
        return None
    return _as_intent(state, found[0].removeprefix("action_"))


def _list_question(state: DialogueState) -> tuple[str, list[str]] | None:
    """(the action that asked, the choices) when the shopping list asked "which one?" in the
    turn before."""
    question = state.slot("shopping_question")
    if not isinstance(question, dict) or state.active_form is not None:
        return None
    asked_by = _QUESTIONS.get(str(question.get("ask")))
    choices = question.get("choices")
    if asked_by is None or _last_action(state) != asked_by or not isinstance(choices, list):
        return None
    return asked_by, [str(c) for c in choices]


def _make_it(state: DialogueState) -> DialogueState | None:
    match = _MAKE_IT.match(state.parse.text)
    if match is None or state.active_form is not None:
        return None
    said = match["count"]
    count = parse_number(said)
    if count is None or parse_duration(said) is not None or count <= 0:
        return None  # "make it ten minutes" says its unit: the timers read it as it is
    mentioned = _just_mentioned(state)
    if mentioned == "list":
        return _as_intent(state, CHANGE_QUANTITY)
    if mentioned != "timer":
        return None
    timers = _running_timers(state)
    if not timers:
        return None
    unit = next(u for u in _UNITS if float(timers[-1]["seconds"]) >= u or u == 1)
    seconds = float(count) * unit
    start = match.start("count")
    duration = Entity(
        entity="duration",
        value=int(seconds) if seconds.is_integer() else seconds,
        text=said,
        start=start,
        end=start + len(said),
        extractor="reference",
    )
    return _as_intent(state, SET_TIMER, add=duration, slots={"duration": duration.value})


# --- reading the state ---------------------------------------------------------------------------


def _last_action(state: DialogueState) -> str | None:
    """The last action run before this turn."""
    actions = [e.name for e in state.events if isinstance(e, ActionExecuted)]
    return actions[-1] if actions else None


def _just_mentioned(state: DialogueState) -> str | None:
    """ "timer" or "list": what the last turns were about (the newest first), if either."""
    turns = 0
    for event in reversed(_before_this_turn(state.events)):
        if isinstance(event, UserUttered) and event.text:
            turns += 1
            if turns > _RECENT_TURNS:
                return None
        elif isinstance(event, ActionExecuted):
            if event.name in _TIMER_ACTIONS:
                return "timer"
            if event.name in _LIST_ACTIONS:
                return "list"
    return None


def _before_this_turn(events: tuple[Event, ...]) -> tuple[Event, ...]:
    index = _this_turn(events)
    return events if index is None else events[:index]


def _this_turn(events: tuple[Event, ...]) -> int | None:
    return next(
        (i for i in range(len(events) - 1, -1, -1) if isinstance(events[i], UserUttered)), None
    )


def _running_timers(state: DialogueState) -> list[dict[str, Any]]:
    timers = state.slot("timers")
    now = time.time()
    return [
        t
        for t in (timers if isinstance(timers, list) else [])
        if isinstance(t, dict) and float(t.get("ends_at", 0)) > now
    ]


# --- rewriting the turn --------------------------------------------------------------------------


def _as_intent(
    state: DialogueState,
    intent: str,
    add: Entity | None = None,
    slots: dict[str, Any] | None = None,
) -> DialogueState:
    """The state with this turn understood as `intent`; `add` replaces the entities of its
    type and of the numbers it was read from; `slots` are set as the turn's."""
    score = IntentScore(name=intent, confidence=state.parse.intent.confidence)
    entities = state.parse.entities
    if add is not None:
        entities = (*(e for e in entities if e.entity not in (add.entity, "number")), add)
    parse = replace(state.parse, intent=score, entities=entities)
    events = list(state.events)
    index = _this_turn(state.events)
    if index is not None:
        uttered = events[index]
        assert isinstance(uttered, UserUttered)
        events[index] = replace(uttered, intent=intent, entities=entities_to_json(entities))
    events += [SlotSet(name=name, value=value) for name, value in (slots or {}).items()]
    values = {**dict(state.slots), **(slots or {})}
    return replace(state, parse=parse, events=tuple(events), slots=tuple(values.items()))
