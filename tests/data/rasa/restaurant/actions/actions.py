"""The restaurant form's validation: rejects cuisines the kitchen does not cook and counts of
people that are not a whole number above zero; asks about a heater only for a table outside."""

from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

CUISINES = ("italian", "chinese", "japanese", "indian", "french")


class ValidateRestaurantForm(FormValidationAction):
    def name(self) -> str:
        return "validate_restaurant_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.slots.get("outdoor_seating") is True:
            return [*domain_slots, "heater"]
        return domain_slots

    async def extract_heater(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.slots.get("requested_slot") != "heater":
            return {}
        intent = tracker.latest_message.get("intent", {}).get("name")
        if intent == "affirm":
            return {"heater": True}
        if intent == "deny":
            return {"heater": False}
        return {}

    def validate_cuisine(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if str(slot_value).lower() in CUISINES:
            return {"cuisine": str(slot_value).lower()}
        dispatcher.utter_message(response="utter_wrong_cuisine")
        return {"cuisine": None}

    def validate_num_people(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        count = _whole_number(slot_value)
        if count is not None and count > 0:
            return {"num_people": count}
        dispatcher.utter_message(response="utter_wrong_num_people")
        return {"num_people": None}


def _whole_number(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None
