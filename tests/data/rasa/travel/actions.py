"""The travel agent's custom action, served by `rasa run actions` (or rasa-sdk) on its own."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher


class ActionBookFlight(Action):
    def name(self) -> str:
        return "action_book_flight"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        origin = tracker.get_slot("departure") or "somewhere"
        target = tracker.get_slot("destination") or "somewhere"
        dispatcher.utter_message(text=f"Booked on the action server: {origin} to {target}.")
        return []
