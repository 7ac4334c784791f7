"""The travel agent's custom action, served by `rasa run actions` (or rasa-sdk) on its own."""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher


class ActionBookFlight(Action):
    def name(self) -> Text:
        return "action_book_flight"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        origin = tracker.get_slot("departure") or "somewhere"
        target = tracker.get_slot("destination") or "somewhere"
        dispatcher.utter_message(text=f"Booked on the action server: {origin} to {target}.")
        return []
