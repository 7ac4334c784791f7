"""Clock skill: the local time and date, phrased the way a person would say them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def now() -> datetime:
    """The local wall-clock time (a function, so there is one place that reads the clock)."""
    return datetime.now()


def part_of_day(hour: int) -> str:
    # "3:20 in the morning" is how people say the small hours; only the hour after
    # midnight and late evening are "at night".
    if 1 <= hour < 12:
        return "in the morning"
    if 12 <= hour < 18:
        return "in the afternoon"
    if 18 <= hour < 21:
        return "in the evening"
    return "at night"


def speak_time(moment: datetime) -> str:
    """12-hour time with a part of the day: "It's 3:42 in the afternoon."."""
    hour, minute = moment.hour, moment.minute
    if minute == 0 and hour == 0:
        return "It's midnight."
    if minute == 0 and hour == 12:
        return "It's noon."
    clock = hour % 12 or 12
    said = f"{clock} o'clock" if minute == 0 else f"{clock}:{minute:02d}"
    return f"It's {said} {part_of_day(hour)}."


def speak_date(moment: datetime, text: str = "") -> str:
    """The date as in "Today is Sunday, November 22."; a question about the weekday, month or
    year gets a direct answer ("Yes, today is Friday, ..." / "It's November." / "It's 2025.")."""
    lowered = text.lower()
    weekday = moment.strftime("%A")
    date = f"{weekday}, {moment.strftime('%B')} {moment.day}"
    if re.search(r"\bwhat year\b", lowered):
        return f"It's {moment.year}."
    if re.search(r"\bwhat month\b", lowered):
        return f"It's {moment.strftime('%B')}."
    asked = [day for day in WEEKDAYS if re.search(rf"\bis (it|today) {day}\b", lowered)]
    if asked:
        answer = "Yes" if asked[0] == weekday.lower() else "No"
        return f"{answer}, today is {date}."
    return f"Today is {date}."


class ActionTime(Action):
    def name(self) -> str:
        return "action_time"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=speak_time(now()))
        return []


class ActionDate(Action):
    def name(self) -> str:
        return "action_date"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        dispatcher.utter_message(text=speak_date(now(), text))
        return []
