"""The Corner Cafe's custom actions (rasa-sdk)."""

from __future__ import annotations

import itertools
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

CLOSED_ON = {"sunday"}
_orders = itertools.count(101)


class ActionLookUpHours(Action):
    def name(self) -> str:
        return "action_look_up_hours"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        day = next(tracker.get_latest_entity_values("day"), None) or tracker.get_slot("day")
        return [SlotSet("open_that_day", str(day or "").lower() not in CLOSED_ON)]


class ActionPlaceOrder(Action):
    def name(self) -> str:
        return "action_place_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        number = next(_orders)
        size, drink = tracker.get_slot("size"), tracker.get_slot("drink")
        dispatcher.utter_message(text=f"One {size} {drink} coming up, order number {number}.")
        return [SlotSet("order_number", number)]
