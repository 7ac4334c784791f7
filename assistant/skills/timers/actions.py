"""Timers: set, change, cancel and check countdowns that end with a spoken reminder.

A timer is a Rasa reminder (`ReminderScheduled` of the intent `timer_done`, carrying the spoken
`timer_label` as an entity); the dialogue tracker fires it when it is due, and the template
`utter_timer_done` answers it. The running timers are also kept in the slot `timers` (a list of
`{name, label, seconds, ends_at}`), because an action sees slots, not the tracker's scheduler.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ReminderCancelled, ReminderScheduled, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.nlu.numbers import parse_duration, parse_number
from assistant.skills.timers.spoken import (
    TimerInfo,
    join_words,
    number_word,
    speak_duration,
    speak_remaining,
    timer_label,
    timer_phrase,
    with_article,
)
from assistant.skills.turns import previous_turn_actions

EventList = list[dict[str, Any]]

MAX_SECONDS = 24 * 3600

# "make it twenty minutes", "change that to five", "... instead": the user means the last timer.
_REFERS_BACK = re.compile(
    r"\b(make|change|set|switch|turn|put|move)\s+(it|that|this)\b|\binstead\b"
    r"|\b(make|change|switch|move)\s+the\s+(\w+\s+){0,4}timer\b",
    re.IGNORECASE,
)
# "actually ...", "no, ..." right after a timer was set correct that timer.
_CORRECTION = re.compile(r"^\W*(actually|no|nope|oh|sorry|wait|i meant|rather)\b", re.IGNORECASE)
# ... unless the user explicitly asks for one more.
_ANOTHER = re.compile(r"\b(another|second|third|new|extra|also|one more)\b", re.IGNORECASE)
_ALL = re.compile(r"\b(all|every|everything|both)\b", re.IGNORECASE)
# "stop that timer", "how long is left on it": the timer the conversation is about.
_THAT = re.compile(r"\b(it|that|this|the timer)\b", re.IGNORECASE)


# --- reading the tracker -------------------------------------------------------------------------


def running_timers(tracker: Tracker, now: float) -> list[TimerInfo]:
    """The timers in the slot that have not ended yet (the slot is not told when one fires)."""
    timers = tracker.get_slot("timers") or []
    return [t for t in timers if isinstance(t, dict) and float(t.get("ends_at", 0)) > now]


def just_set(tracker: Tracker, timers: list[TimerInfo]) -> TimerInfo | None:
    """The timer "it" or "that timer" means: the only one running, or the one the turn before
    set or changed; None when several run and the last turn set none of them."""
    if len(timers) == 1:
        return timers[0]
    if timers and "action_set_timer" in previous_turn_actions(tracker):
        return timers[-1]  # set (or changed) last: the slot keeps them in that order
    return None


def which_timer(timers: list[TimerInfo], verb: str) -> str:
    """The question when "it" could be several timers."""
    listed = join_words([timer_phrase(t) for t in timers])
    question = f"You have {number_word(len(timers))} timers: {listed}. Which one should I {verb}?"
    if verb == "change":
        question += f" For example: change the {timers[0]['label']} timer to ten minutes."
    return question


def asked(tracker: Tracker, ask: str) -> dict[str, Any] | None:
    """The timers' question of the turn before ("Which one should I change?"), if it was of
    this kind."""
    question = tracker.get_slot("timer_question")
    action = "action_set_timer" if ask == "change" else "action_cancel_timer"
    if not isinstance(question, dict) or question.get("ask") != ask:
        return None
    return question if action in previous_turn_actions(tracker) else None


def named_timers(tracker: Tracker, timers: list[TimerInfo]) -> list[TimerInfo]:
    """The running timers of the length the latest message names first ("the five minute
    one"), oldest first."""
    durations = latest_durations(tracker)
    return [t for t in timers if durations and abs(float(t["seconds"]) - durations[0]) < 1]


def counted_unit(seconds: float) -> int:
    """The unit a length is counted in, as "make it ten" means it: hours, minutes or seconds."""
    return next(unit for unit in (3600, 60, 1) if seconds >= unit or unit == 1)


def bare_count(text: str) -> float | None:
    """The number of "make it two" (no unit said), if the text ends in one."""
    match = re.search(r"\b(?:it|that|this)\s+(?:to\s+)?([\w.-]+)\W*$", text, re.IGNORECASE)
    if match is None or parse_duration(match[1]) is not None:
        return None
    value = parse_number(match[1])
    return float(value) if value is not None else None


def latest_durations(tracker: Tracker) -> list[float]:
    values = []
    for value in tracker.get_latest_entity_values("duration"):
        seconds = _seconds(value)
        if seconds is not None:
            values.append(seconds)
    return values


def _seconds(value: Any) -> float | None:
    """The NLU gives seconds as a number; a string is read as a number or a spoken duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            parsed = parse_duration(value)
            return None if parsed is None else float(parsed)
    return None


def is_replacement(tracker: Tracker, text: str, timers: list[TimerInfo]) -> bool:
    """Whether "make it twenty minutes" means the last timer rather than a new one."""
    if not timers or _ANOTHER.search(text):
        return False
    if _REFERS_BACK.search(text):
        return True
    if "action_set_timer" not in previous_turn_actions(tracker):
        return False
    # Right after a timer was set, a correction or a bare length ("twenty minutes") changes it.
    bare = re.sub(r"^\W*(for|to)\s+", "", text.strip(), flags=re.IGNORECASE)
    return bool(_CORRECTION.search(text)) or parse_duration(bare) is not None


def _schedule(seconds: float, now: float) -> tuple[TimerInfo, dict[str, Any]]:
    name = f"timer-{uuid.uuid4().hex[:12]}"
    label = timer_label(seconds)
    timer: TimerInfo = {"name": name, "label": label, "seconds": seconds, "ends_at": now + seconds}
    event = ReminderScheduled(
        "timer_done",
        trigger_date_time=datetime.fromtimestamp(now + seconds, UTC),
        entities=[{"entity": "timer_label", "value": label}],
        name=name,
        # A timer keeps running while the user talks about other things.
        kill_on_user_message=False,
    )
    return timer, event


# --- actions -------------------------------------------------------------------------------------


class ActionSetTimer(Action):
    def name(self) -> str:
        return "action_set_timer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        now = time.time()
        seconds = _seconds(tracker.get_slot("duration"))
        if seconds is None:
            found = latest_durations(tracker)
            seconds = found[0] if found else None
        if seconds is None:
            # Reached without the form (e.g. from an action server's own policy): ask, and let
            # the form collect the answer.
            dispatcher.utter_message(response="utter_ask_duration")
            return [ActiveLoop("set_timer_form"), SlotSet("requested_slot", "duration")]
        if seconds < 1:
            dispatcher.utter_message(text="A timer needs to be at least one second long.")
            return []
        if seconds > MAX_SECONDS:
            dispatcher.utter_message(text="I can only set timers for up to 24 hours.")
            return []

        timers = running_timers(tracker, now)
        text = tracker.latest_message.get("text") or ""
        target: TimerInfo | None = None
        question = asked(tracker, "change")
        named = named_timers(tracker, timers)
        durations = latest_durations(tracker)
        if len(durations) > 1 and named and (question or is_replacement(tracker, text, timers)):
            # "change the five minute timer to ten minutes"
            target, seconds = named[-1], durations[1]
        elif question is not None and named:
            # The answer to "Which one should I change?": "the five minute one".
            target = named[-1]
            count = question.get("count")
            seconds = float(question["seconds"])
            if isinstance(count, int | float):  # "make it two": two of that timer's unit
                seconds = count * counted_unit(float(target["seconds"]))
        elif is_replacement(tracker, text, timers):
            target = just_set(tracker, timers)
            if target is None:
                dispatcher.utter_message(text=which_timer(timers, "change"))
                change = {"ask": "change", "seconds": seconds, "count": bare_count(text)}
                return [SlotSet("timers", timers), SlotSet("timer_question", change)]
        events: EventList = []
        reply = ""
        if target is not None:
            timers = [t for t in timers if t["name"] != target["name"]]
            events.append(ReminderCancelled(name=target["name"]))
            reply = f"Okay, I changed it to {speak_duration(seconds)}."
        timer, scheduled = _schedule(seconds, now)
        timers.append(timer)
        events += [scheduled, SlotSet("timers", timers), SlotSet("timer_question", None)]
        dispatcher.utter_message(text=reply or f"Okay, {timer_phrase(timer)}, starting now.")
        return events


class ActionCancelTimer(Action):
    def name(self) -> str:
        return "action_cancel_timer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        timers = running_timers(tracker, time.time())
        text = tracker.latest_message.get("text") or ""
        durations = latest_durations(tracker)
        if not timers:
            dispatcher.utter_message(text="You don't have any timers running.")
            return [SlotSet("timers", [])]
        if _ALL.search(text):
            chosen = list(timers)
        elif durations:
            chosen = named_timers(tracker, timers)[-1:]
            if not chosen:
                phrase = with_article(timer_label(durations[0]))
                dispatcher.utter_message(text=f"You don't have {phrase} timer.")
                return [SlotSet("timers", timers)]
        elif len(timers) == 1:
            chosen = timers
        else:
            dispatcher.utter_message(
                text=which_timer(timers, "cancel") + " You can also say cancel all timers."
            )
            return [SlotSet("timers", timers), SlotSet("timer_question", {"ask": "cancel"})]

        names = {t["name"] for t in chosen}
        remaining = [t for t in timers if t["name"] not in names]
        if len(chosen) == 1:
            reply = f"Okay, I cancelled your {chosen[0]['label']} timer."
        else:
            reply = f"Okay, I cancelled all {number_word(len(chosen))} timers."
        dispatcher.utter_message(text=reply)
        return [
            *(ReminderCancelled(name=n) for n in names),
            SlotSet("timers", remaining),
            SlotSet("timer_question", None),
        ]


class ActionTimerStatus(Action):
    def name(self) -> str:
        return "action_timer_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        now = time.time()
        timers = running_timers(tracker, now)
        text = tracker.latest_message.get("text") or ""
        if not timers:
            dispatcher.utter_message(text="You don't have any timers running.")
            return [SlotSet("timers", [])]
        shown = named_timers(tracker, timers)
        if not shown and _THAT.search(text) and (that := just_set(tracker, timers)) is not None:
            shown = [that]  # "how long is left on it"
        sentences = [
            f"Your {t['label']} timer has {speak_remaining(float(t['ends_at']) - now)} left."
            for t in sorted(shown or timers, key=lambda t: float(t["ends_at"]))
        ]
        dispatcher.utter_message(text=" ".join(sentences))
        return [SlotSet("timers", timers)]
