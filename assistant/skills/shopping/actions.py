"""Shopping list: add, remove and read back items, kept in the session's `shopping_list` slot.

Items are stored and spoken back as the user said them; comparisons ignore case and a plural
"s", so "Eggs" and "egg" are the same item.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

EventList = list[dict[str, Any]]

# "and bread" / "also apples" continue whatever the previous turn did.
_FOLLOW_UP = re.compile(r"^\W*(and|also|plus|oh,? and|as well as)\b", re.IGNORECASE)
_CLEAR = re.compile(
    r"\b(clear|empty|everything|all (the )?items|new (shopping )?list)\b", re.IGNORECASE
)


def join_words(parts: list[str]) -> str:
    """Join words as spoken: a; a and b; a, b and c."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def key(item: str) -> str:
    """Comparison key: case, surrounding space and a plural "s" do not make a new item."""
    folded = " ".join(item.lower().split())
    return folded[:-1] if folded.endswith("s") and not folded.endswith("ss") else folded


def unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            result.append(item)
    return result


def latest_items(tracker: Tracker) -> list[str]:
    """The items named in the latest message; the `item` slot when a form collected them."""
    items = [str(v).strip() for v in tracker.get_latest_entity_values("item") if str(v).strip()]
    if not items:
        slot = tracker.get_slot("item")
        if isinstance(slot, str):
            slot = [slot]
        items = [str(v).strip() for v in slot or [] if str(v).strip()]
    return unique(items)


def shopping_list(tracker: Tracker) -> list[str]:
    value = tracker.get_slot("shopping_list")
    return [str(v) for v in value] if isinstance(value, list) else []


def previous_intent(tracker: Tracker) -> str | None:
    """The intent of the user message before the latest one."""
    users = [e for e in tracker.events if e.get("event") == "user"]
    if len(users) < 2:
        return None
    intent = (users[-2].get("parse_data") or {}).get("intent") or {}
    return intent.get("name")


def find_exact(items: list[str], wanted: str) -> int | None:
    return next((i for i, item in enumerate(items) if key(item) == key(wanted)), None)


def find(items: list[str], wanted: str) -> int | None:
    """Where `wanted` is on the list: the same item, or the only entry that contains it as
    whole words ("milk" finds "oat milk" when there is no plain "milk")."""
    exact = find_exact(items, wanted)
    if exact is not None:
        return exact
    pattern = re.compile(rf"\b{re.escape(key(wanted))}s?\b", re.IGNORECASE)
    matches = [i for i, item in enumerate(items) if pattern.search(item)]
    return matches[0] if len(matches) == 1 else None


def add_items(dispatcher: CollectingDispatcher, current: list[str], items: list[str]) -> list[str]:
    added = [item for item in items if find_exact(current, item) is None]
    present = [item for item in items if item not in added]
    if added:
        text = f"Added {join_words(added)} to your shopping list."
        if present:
            text += f" {sentence(join_words(present))} {_was(present)} already on it."
    else:
        text = f"{sentence(join_words(present))} {_is(present)} already on your list."
    dispatcher.utter_message(text=text)
    return current + added


def remove_items(
    dispatcher: CollectingDispatcher, current: list[str], items: list[str]
) -> list[str]:
    remaining = list(current)
    removed, missing = [], []
    for item in items:
        index = find(remaining, item)
        if index is None:
            missing.append(item)
        else:
            removed.append(remaining.pop(index))
    if removed:
        text = f"Removed {join_words(removed)} from your shopping list."
        if missing:
            text += f" {sentence(join_words(missing))} {_was(missing, negative=True)} on it."
    else:
        text = f"{sentence(join_words(missing))} {_is(missing, negative=True)} on your list."
    dispatcher.utter_message(text=text)
    return remaining


def _is(items: list[str], negative: bool = False) -> str:
    verb = "is" if len(items) == 1 else "are"
    return f"{verb}n't" if negative else verb


def _was(items: list[str], negative: bool = False) -> str:
    verb = "was" if len(items) == 1 else "were"
    return f"{verb}n't" if negative else verb


class ActionAddToList(Action):
    def name(self) -> str:
        return "action_add_to_list"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        items = latest_items(tracker)
        current = shopping_list(tracker)
        if not items:
            dispatcher.utter_message(response="utter_ask_item")
            return []
        text = tracker.latest_message.get("text") or ""
        if _FOLLOW_UP.search(text) and previous_intent(tracker) == "remove_from_list":
            # "remove eggs" ... "and bread": the follow-up removes too.
            updated = remove_items(dispatcher, current, items)
        else:
            updated = add_items(dispatcher, current, items)
        return [SlotSet("shopping_list", updated), SlotSet("item", None)]


class ActionRemoveFromList(Action):
    def name(self) -> str:
        return "action_remove_from_list"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        items = latest_items(tracker)
        current = shopping_list(tracker)
        text = tracker.latest_message.get("text") or ""
        if not items and _CLEAR.search(text):
            if current:
                dispatcher.utter_message(text="Okay, I cleared your shopping list.")
            else:
                dispatcher.utter_message(text="Your shopping list is already empty.")
            return [SlotSet("shopping_list", [])]
        if not items:
            dispatcher.utter_message(
                text="What should I take off? For example: remove eggs from my list."
            )
            return []
        if not current:
            dispatcher.utter_message(text="Your shopping list is already empty.")
            return []
        return [SlotSet("shopping_list", remove_items(dispatcher, current, items))]


class ActionShowList(Action):
    def name(self) -> str:
        return "action_show_list"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        current = shopping_list(tracker)
        asked = [v for v in tracker.get_latest_entity_values("item") if str(v).strip()]
        if asked:
            # "is milk on my list?"
            item = str(asked[0]).strip()
            index = find(current, item)
            if index is None:
                dispatcher.utter_message(text=f"No, {item} isn't on your shopping list.")
            else:
                dispatcher.utter_message(text=f"Yes, {current[index]} is on your list.")
        elif current:
            dispatcher.utter_message(text=f"Your list has {join_words(current)}.")
        else:
            dispatcher.utter_message(text="Your shopping list is empty.")
        return []
