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

from assistant.nlu.numbers import parse_duration

TimerInfo = dict[str, Any]
EventList = list[dict[str, Any]]

MAX_SECONDS = 24 * 3600

_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
]  # fmt: skip
_TENS = {30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty",
         90: "ninety"}  # fmt: skip
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))

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


# --- speaking durations ---------------------------------------------------------------------------


def number_word(n: int) -> str:
    """Small and round numbers as words (they read better in text); others as digits."""
    if 0 <= n < len(_WORDS):
        return _WORDS[n]
    return _TENS.get(n, str(n))


def join_words(parts: list[str]) -> str:
    """Join words as spoken: a; a and b; a, b and c."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _split(seconds: float) -> list[tuple[int, str]]:
    rest = max(0, round(seconds))
    parts = []
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append((count, unit))
    return parts


def _half(seconds: float) -> tuple[int, str] | None:
    """(2, "hour") when the duration is two and a half hours; minutes likewise."""
    total = round(seconds)
    for unit, size in (("hour", 3600), ("minute", 60)):
        whole, rest = divmod(total, size)
        if whole > 0 and rest == size // 2 and total < (86400 if unit == "hour" else 3600):
            return whole, unit
    return None


def speak_duration(seconds: float) -> str:
    """A length of time as a person says it: "an hour and a half", "ten minutes",
    "45 seconds", "an hour and five minutes"."""
    half = _half(seconds)
    if half is not None:
        whole, unit = half
        if whole == 1:
            return f"{with_article(unit)} and a half"
        return f"{number_word(whole)} and a half {unit}s"
    parts = _split(seconds)
    if not parts:
        return "zero seconds"
    indefinite = {"day": "a day", "hour": "an hour", "minute": "a minute", "second": "one second"}
    return join_words(
        [indefinite[unit] if n == 1 else f"{number_word(n)} {unit}s" for n, unit in parts]
    )


def timer_label(seconds: float) -> str:
    """How a timer of this length is named: "ten minute" (as in "a ten minute timer"),
    "hour and a half", or "one hour and five minutes" when it has several parts."""
    half = _half(seconds)
    if half is not None:
        whole, unit = half
        return f"{unit} and a half" if whole == 1 else f"{number_word(whole)} and a half {unit}"
    parts = _split(seconds)
    if len(parts) == 1:
        n, unit = parts[0]
        return f"{number_word(n)} {unit}"
    return join_words([f"{number_word(n)} {unit}{'' if n == 1 else 's'}" for n, unit in parts])


def with_article(phrase: str) -> str:
    """The phrase with "a" or "an" as it sounds: a ten minute, an eight minute, an hour."""
    first = phrase.split(" ", 1)[0].lower()
    vowel_sound = (first[:1] in ("a", "e", "i", "o") and first != "one") or first == "hour"
    return f"{'an' if vowel_sound or first.startswith('8') else 'a'} {phrase}"


def timer_phrase(timer: TimerInfo) -> str:
    """A timer as a noun phrase: a ten minute timer, or "a timer for an hour and five
    minutes" when its length has several parts."""
    label = str(timer["label"])
    if " and " in label and "a half" not in label:
        return f"a timer for {speak_duration(float(timer['seconds']))}"
    return f"{with_article(label)} timer"


def speak_remaining(seconds: float) -> str:
    """Time left, as precise as is useful: seconds only in the last ten minutes."""
    if seconds >= 600:
        seconds = round(seconds / 60) * 60
    return speak_duration(max(1, seconds))


# --- reading the tracker -------------------------------------------------------------------------


def running_timers(tracker: Tracker, now: float) -> list[TimerInfo]:
    """The timers in the slot that have not ended yet (the slot is not told when one fires)."""
    timers = tracker.get_slot("timers") or []
    return [t for t in timers if isinstance(t, dict) and float(t.get("ends_at", 0)) > now]


def previous_turn_actions(tracker: Tracker) -> list[str]:
    """The actions run between the previous user message and the latest one."""
    events = tracker.events
    users = [i for i, event in enumerate(events) if event.get("event") == "user"]
    if len(users) < 2:
        return []
    start, end = users[-2], users[-1]
    return [str(e.get("name")) for e in events[start + 1 : end] if e.get("event") == "action"]


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
        events: EventList = []
        reply = ""
        if is_replacement(tracker, text, timers):
            durations = latest_durations(tracker)
            named = [t for t in timers if durations and abs(float(t["seconds"]) - durations[0]) < 1]
            if len(durations) > 1 and named:
                # "change the five minute timer to ten minutes"
                old, seconds = named[-1], durations[1]
            else:
                target = just_set(tracker, timers)
                if target is None:
                    dispatcher.utter_message(text=which_timer(timers, "change"))
                    return [SlotSet("timers", timers)]
                old = target
            timers = [t for t in timers if t["name"] != old["name"]]
            events.append(ReminderCancelled(name=old["name"]))
            reply = f"Okay, I changed it to {speak_duration(seconds)}."
        timer, scheduled = _schedule(seconds, now)
        timers.append(timer)
        events += [scheduled, SlotSet("timers", timers)]
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
            chosen = [t for t in timers if abs(float(t["seconds"]) - durations[0]) < 1][-1:]
            if not chosen:
                phrase = with_article(timer_label(durations[0]))
                dispatcher.utter_message(text=f"You don't have {phrase} timer.")
                return [SlotSet("timers", timers)]
        elif len(timers) == 1:
            chosen = timers
        elif _THAT.search(text) and (that := just_set(tracker, timers)) is not None:
            chosen = [that]  # "stop that timer" right after setting it
        else:
            dispatcher.utter_message(
                text=which_timer(timers, "cancel") + " You can also say cancel all timers."
            )
            return [SlotSet("timers", timers)]

        names = {t["name"] for t in chosen}
        remaining = [t for t in timers if t["name"] not in names]
        if len(chosen) == 1:
            reply = f"Okay, I cancelled your {chosen[0]['label']} timer."
        else:
            reply = f"Okay, I cancelled all {number_word(len(chosen))} timers."
        dispatcher.utter_message(text=reply)
        return [*(ReminderCancelled(name=n) for n in names), SlotSet("timers", remaining)]


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
        durations = latest_durations(tracker)
        shown = [t for t in timers if durations and abs(float(t["seconds"]) - durations[0]) < 1]
        if not shown and _THAT.search(text) and (that := just_set(tracker, timers)) is not None:
            shown = [that]  # "how long is left on it"
        sentences = [
            f"Your {t['label']} timer has {speak_remaining(float(t['ends_at']) - now)} left."
            for t in sorted(shown or timers, key=lambda t: float(t["ends_at"]))
        ]
        dispatcher.utter_message(text=" ".join(sentences))
        return [SlotSet("timers", timers)]
