"""The cafe's custom action: repeats the order back."""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionOrderDrink(Action):
    def name(self) -> Text:
        return "action_order_drink"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        drink = next(tracker.get_latest_entity_values("drink"), None) or tracker.get_slot("drink")
        size = next(tracker.get_latest_entity_values("size"), None) or "regular"
        if not drink:
            dispatcher.utter_message(text="What would you like to drink?")
            return []
        dispatcher.utter_message(text=f"One {size} {drink}, coming right up.")
        return [SlotSet("drink", drink), SlotSet("size", size if size != "regular" else None)]
