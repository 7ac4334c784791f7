"""The cafe's custom action: repeats the order back."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.menu import DEFAULT_SIZE, SIZES, order_line


class ActionOrderDrink(Action):
    def name(self) -> str:
        return "action_order_drink"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        drink = next(tracker.get_latest_entity_values("drink"), None) or tracker.get_slot("drink")
        size = next(tracker.get_latest_entity_values("size"), None) or DEFAULT_SIZE
        if not drink:
            dispatcher.utter_message(text="What would you like to drink?")
            return []
        dispatcher.utter_message(text=order_line(size, drink))
        return [SlotSet("drink", drink), SlotSet("size", size if size in SIZES else None)]


class ActionTime(Action):
    """Replaces the built-in clock's action of the same name: the cafe's own skill wins."""

    def name(self) -> str:
        return "action_time"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text="Always time for coffee.")
        return []
