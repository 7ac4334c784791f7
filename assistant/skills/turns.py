"""What the built-in skills' actions read of the turns before the latest one."""

from __future__ import annotations

from rasa_sdk import Tracker


def previous_intent(tracker: Tracker) -> str | None:
    """The intent of the user message before the latest one."""
    users = [e for e in tracker.events if e.get("event") == "user"]
    if len(users) < 2:
        return None
    intent = (users[-2].get("parse_data") or {}).get("intent") or {}
    return intent.get("name")


def previous_turn_actions(tracker: Tracker) -> list[str]:
    """The actions run between the previous user message and the latest one."""
    events = tracker.events
    users = [i for i, event in enumerate(events) if event.get("event") == "user"]
    if len(users) < 2:
        return []
    start, end = users[-2], users[-1]
    return [str(e.get("name")) for e in events[start + 1 : end] if e.get("event") == "action"]
