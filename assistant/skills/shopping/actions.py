"""Shopping list: add, remove and read back items, kept in the session's `shopping_list` slot.

Items are stored and spoken back as the user said them; comparisons ignore case and a plural
"s", so "Eggs" and "egg" are the same item. A removal is resolved against the list
(`resolve.py`): "take the milk off" finds "oat milk" when it is the only milk, and asks which
one when there are several; the answer ("the oat one", "both") is read against that question.
"Make it three" right after "add two lemons" changes the count (`quantity.py`); the dialogue's
references turn it into the intent `change_quantity`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.nlu.numbers import parse_number
from assistant.skills.shopping.quantity import count_word, with_count
from assistant.skills.shopping.resolve import pick, resolve_removal
from assistant.skills.turns import previous_intent, previous_turn_actions

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


def join_choices(parts: list[str]) -> str:
    """Choices as spoken: a; a or b; a, b or c."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " or " + parts[-1]


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


def open_question(tracker: Tracker, ask: str) -> dict[str, Any] | None:
    """The list's question of the turn before ("Which one should I take off?"), if it asked
    one of this kind and nothing has been said since."""
    question = tracker.get_slot("shopping_question")
    action = "action_remove_from_list" if ask == "remove" else "action_change_quantity"
    if not isinstance(question, dict) or question.get("ask") != ask:
        return None
    return question if action in previous_turn_actions(tracker) else None


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
    dispatcher: CollectingDispatcher, current: list[str], text: str, items: list[str]
) -> EventList:
    """Take off what `text` and the NLU's `items` mean (resolved against the list); ask which
    one when an item fits several entries."""
    removal = resolve_removal(text, items, current)
    removed = list(removal.found)
    parts = []
    if removed:
        parts.append(f"Removed {join_words(removed)} from your shopping list.")
    if removal.missing:
        missing = list(removal.missing)
        where = "on it" if removed else "on your list"
        verb = _was(missing, negative=True) if removed else _is(missing, negative=True)
        parts.append(f"{sentence(join_words(missing))} {verb} {where}.")
    question = None
    if removal.ambiguous:
        _, options = removal.ambiguous[0]
        parts.append(f"Which one should I take off: {join_choices(list(options))}?")
        question = {"ask": "remove", "choices": list(options)}
    if not parts:
        parts.append("What should I take off? For example: remove eggs from my list.")
    dispatcher.utter_message(text=" ".join(parts))
    remaining = [entry for entry in current if entry not in removed]
    return [SlotSet("shopping_list", remaining), SlotSet("shopping_question", question)]


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
            return [*remove_items(dispatcher, current, text, items), SlotSet("item", None)]
        updated = add_items(dispatcher, current, items)
        return [
            SlotSet("shopping_list", updated),
            SlotSet("item", None),
            SlotSet("last_items", [i for i in items if i in updated]),
            SlotSet("shopping_question", None),
        ]


class ActionRemoveFromList(Action):
    def name(self) -> str:
        return "action_remove_from_list"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        items = latest_items(tracker)
        current = shopping_list(tracker)
        text = tracker.latest_message.get("text") or ""
        question = open_question(tracker, "remove")
        if question is not None:
            # The answer to "Which one should I take off?": "the oat milk", "both".
            chosen = [c for c in pick(text, question["choices"]) if c in current]
            if chosen:
                return remove_items(dispatcher, current, " and ".join(chosen), [])
        if not items and _CLEAR.search(text):
            if current:
                dispatcher.utter_message(text="Okay, I cleared your shopping list.")
            else:
                dispatcher.utter_message(text="Your shopping list is already empty.")
            return [SlotSet("shopping_list", []), SlotSet("shopping_question", None)]
        if not current:
            dispatcher.utter_message(text="Your shopping list is already empty.")
            return []
        return remove_items(dispatcher, current, text, items)


class ActionChangeQuantity(Action):
    """ "Make it three" just after "add two lemons": three lemons instead. With several items
    just added, asks which one; "the lemons" answers."""

    def name(self) -> str:
        return "action_change_quantity"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        text = tracker.latest_message.get("text") or ""
        current = shopping_list(tracker)
        question = open_question(tracker, "count")
        if question is not None:
            count = question.get("count")
            options = [c for c in pick(text, question["choices"]) if c in current]
        else:
            count = spoken_count(text)
            last = tracker.get_slot("last_items")
            options = [i for i in (last if isinstance(last, list) else []) if i in current]
        if not isinstance(count, int) or count < 1:
            dispatcher.utter_message(text="How many should it be?")
            return []
        if not options:
            dispatcher.utter_message(
                text="Which item should I change? Say, for example, make it three lemons."
            )
            return []
        if len(options) > 1:
            dispatcher.utter_message(
                text=f"Which one should I make {count_word(count)}: {join_choices(options)}?"
            )
            return [
                SlotSet("shopping_question", {"ask": "count", "choices": options, "count": count})
            ]
        old = options[0]
        new = with_count(old, count)
        updated = [new if entry == old else entry for entry in current]
        dispatcher.utter_message(text=f"Okay, {new} instead of {old}.")
        return [
            SlotSet("shopping_list", updated),
            SlotSet("last_items", [new]),
            SlotSet("shopping_question", None),
        ]


def spoken_count(text: str) -> int | None:
    """The count in "make it three", "change that to 12 please"."""
    match = re.search(r"\b(?:it|that|this|them)\s+(?:to\s+|into\s+)?(.+?)\W*$", text, re.I)
    said = re.sub(r"\b(instead|please|then|now)\b", "", match[1] if match else text).strip()
    value = parse_number(said)
    return int(value) if isinstance(value, int | float) and float(value).is_integer() else None


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
