"""A session's dialogue tracker: its events, and the state they add up to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.dialogue.events import JSON, Event, Restarted, TrackerState


@dataclass
class Tracker:
    session_id: str
    events: list[Event] = field(default_factory=list)
    state: TrackerState = field(default_factory=TrackerState)

    @classmethod
    def from_events(cls, session_id: str, events: Iterable[Event]) -> Tracker:
        tracker = cls(session_id)
        tracker.extend(events)
        return tracker

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.events.append(event)
            event.apply(self.state)

    @property
    def applied_events(self) -> list[Event]:
        """The events since the last restart: the conversation as it stands now."""
        for index in range(len(self.events) - 1, -1, -1):
            if isinstance(self.events[index], Restarted):
                return self.events[index + 1 :]
        return list(self.events)

    @property
    def slots(self) -> dict[str, Any]:
        return self.state.slots

    def to_rasa_json(self) -> JSON:
        """The tracker in the shape rasa-sdk's `Tracker.from_dict` reads."""
        latest = self.state.latest_message
        return {
            "sender_id": self.session_id,
            "slots": dict(self.state.slots),
            "latest_message": latest.to_json()["parse_data"] if latest else {},
            "events": [e.to_json() for e in self.events],
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": self.state.active_form} if self.state.active_form else {},
            "latest_action_name": self.state.latest_action,
        }
