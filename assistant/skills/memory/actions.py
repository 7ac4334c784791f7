"""Per-user memory: "call me Sam", "I prefer metric", "remember that ...", "what's my name",
"what do you remember about me", "forget that", "forget everything about me".

The actions are plain rasa-sdk: they read the slots `user_name`, `unit_system` and
`user_memories` (a list of `{"text", "at"}`, the user's words and when they were said) and change
them with `SlotSet`. Keeping the slots for the user across sessions is the `memory` stage's job
(assistant/stages/memory); without it they last as long as the session.
"""

from __future__ import annotations

import re
import time
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

EventList = list[dict[str, Any]]
Fact = dict[str, Any]

MAX_FACTS = 200  # as the store keeps at most
MAX_NAME_WORDS = 4
SPOKEN_FACTS = 5  # "what do you remember": the latest few, then how many more

# --- names ---------------------------------------------------------------------------------------

_NAME_CUE = re.compile(
    r"\b(?:my (?:full |first )?name(?: is|'s)|name's|the name is|call me|i'm called|"
    r"i am called|i'm|i am|i go by|this is|it's|be called)\s+(?P<name>.+)",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"^[^\W\d_][\w'.-]*$")
# Words that end a name said in a sentence ("call me Alex from now on") or show that what
# follows "I'm" is no name at all ("I'm tired").
_AFTER_NAME = frozenset(
    ("from", "now", "on", "please", "thanks", "thank", "by", "the", "way", "instead", "and",
     "but", "so", "here", "speaking", "too", "then", "again", "actually")
)  # fmt: skip
_NOT_NAMES = frozenset(
    ("a", "an", "the", "not", "tired", "bored", "hungry", "back", "done", "fine", "good", "okay",
     "ok", "sorry", "sad", "happy", "here", "ready", "busy", "sick", "ill", "new", "lost",
     "confused", "home", "off", "going", "leaving", "sure", "afraid", "just", "very", "so",
     "really", "still", "glad", "great", "well", "alright", "cold", "hot", "late", "early",
     "free", "out", "in", "on", "at", "looking", "trying", "feeling")
)  # fmt: skip


def about_name(tracker: Tracker) -> bool:
    """Whether the words say a name at all ("call mum" may be read as `tell_name`)."""
    return _NAME_CUE.search(tracker.latest_message.get("text") or "") is not None


def said_name(tracker: Tracker) -> str | None:
    """The name the user wants to be called: the NLU's `name` entity, else the words after
    "my name is", "call me", "I'm" ...; tidied (capitalised when typed in lower case)."""
    text = tracker.latest_message.get("text") or ""
    found = [str(v) for v in tracker.get_latest_entity_values("name") if str(v).strip()]
    candidate = found[0] if found else None
    if candidate is None:
        match = _NAME_CUE.search(text)
        candidate = match["name"] if match else None
    return tidy_name(candidate) if candidate else None


def tidy_name(words: str) -> str | None:
    kept: list[str] = []
    for raw in words.split():
        word = raw.strip(' ,.!?;:"()')
        if not word or word.lower() in _AFTER_NAME or not _NAME_WORD.match(word):
            break
        kept.append(word)
        if raw.rstrip().endswith((",", ".", "!", "?", ";")) or len(kept) == MAX_NAME_WORDS:
            break
    if not kept or kept[0].lower() in _NOT_NAMES:
        return None
    if all(w == w.lower() for w in kept):
        kept = [w[:1].upper() + w[1:] for w in kept]
    return " ".join(kept)


# --- units ---------------------------------------------------------------------------------------

_METRIC = re.compile(r"\b(metric|si units?|the si system|kilomet|kilogram|celsius)", re.I)
_IMPERIAL = re.compile(
    r"\b(imperial|us customary|customary|american|miles|pounds|fahrenheit)", re.I
)


def said_units(tracker: Tracker) -> str | None:
    for value in tracker.get_latest_entity_values("unit_system"):
        if str(value).lower() in ("metric", "imperial"):
            return str(value).lower()
    text = tracker.latest_message.get("text") or ""
    metric, imperial = _METRIC.search(text), _IMPERIAL.search(text)
    if bool(metric) != bool(imperial):
        return "metric" if metric else "imperial"
    return None


# --- facts ---------------------------------------------------------------------------------------

_FACT_CUE = re.compile(
    r"^\W*(?:(?:please|hey|ok(?:ay)?|so|and|also|can you|could you|would you|will you|"
    r"i want you to|i need you to|i'd like you to)[\s,]+)*"
    r"(?:remember(?: for me)?|don't forget|do not forget|note|make a note|keep in mind|"
    r"memori[sz]e)(?:\s+(?:that|this))?\s*[:,-]?\s*(?P<fact>.*?)[\s.!]*$",
    re.IGNORECASE,
)
_FORGET_CUE = re.compile(
    r"^\W*(?:(?:please|okay|ok|oh|oops|actually|and|can you|could you)[\s,]+)*"
    r"forget\s+(?:that|about)\s+(?P<fact>.+?)[\s.!]*$",
    re.IGNORECASE,
)
_TRAILING = re.compile(r"[\s,]+(please|thanks|thank you)$", re.IGNORECASE)


_REMEMBER_CUE = re.compile(
    r"\b(remember|don't forget|do not forget|note|keep in mind|memori[sz]e)\b", re.IGNORECASE
)


def about_remembering(tracker: Tracker) -> bool:
    """Whether the words ask to remember ("text john that I'm on my way" may be read as
    `remember`, and must not be kept)."""
    return _REMEMBER_CUE.search(tracker.latest_message.get("text") or "") is not None


def said_fact(tracker: Tracker) -> str | None:
    """What to remember: the words after "remember that" (and the like), else the NLU's
    `fact` entity."""
    text = (tracker.latest_message.get("text") or "").strip()
    match = _FACT_CUE.match(text)
    fact = match["fact"] if match else None
    if not fact:
        fact = next((str(v) for v in tracker.get_latest_entity_values("fact") if v), None)
    if not fact:
        return None
    fact = _TRAILING.sub("", fact.strip(" ,.!")).strip()
    return " ".join(fact.split()) or None


# "my sister's birthday is May 3" said back: "your sister's birthday is May 3".
_PERSON = [
    (r"\bi am\b", "you are"),
    (r"\bi was\b", "you were"),
    (r"\bi'm\b", "you're"),
    (r"\bi've\b", "you've"),
    (r"\bi'll\b", "you'll"),
    (r"\bi'd\b", "you'd"),
    (r"\bmyself\b", "yourself"),
    (r"\bmine\b", "yours"),
    (r"\bmy\b", "your"),
    (r"\bme\b", "you"),
    (r"\bi\b", "you"),
    (r"\bours\b", "yours"),
    (r"\bour\b", "your"),
    (r"\bwe're\b", "you're"),
    (r"\bwe\b", "you"),
]
_PERSON_RE = re.compile("|".join(f"({p})" for p, _ in _PERSON), re.IGNORECASE)


def told(fact: str) -> str:
    """A fact in the user's words as the assistant says it back (first person to second)."""

    def swap(match: re.Match[str]) -> str:
        return _PERSON[(match.lastindex or 1) - 1][1]

    return _PERSON_RE.sub(swap, fact)


def facts_of(tracker: Tracker) -> list[Fact]:
    value = tracker.get_slot("user_memories")
    if not isinstance(value, list):
        return []
    facts = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            facts.append({"text": item["text"], "at": item.get("at") or 0.0})
        elif isinstance(item, str):
            facts.append({"text": item, "at": 0.0})
    return facts


def join_words(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# --- actions -------------------------------------------------------------------------------------


class ActionTellName(Action):
    def name(self) -> str:
        return "action_tell_name"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        if not about_name(tracker):  # not a name said: what it is, the skills cannot tell
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        name = said_name(tracker)
        if name is None:
            dispatcher.utter_message(response="utter_name_missing")
            return []
        if name == tracker.get_slot("user_name"):
            dispatcher.utter_message(response="utter_name_same", name=name)
            return []
        dispatcher.utter_message(response="utter_name_saved", name=name)
        return [SlotSet("user_name", name), SlotSet("user_named", True)]


class ActionSetUnits(Action):
    def name(self) -> str:
        return "action_set_units"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        units = said_units(tracker)
        if units is None:
            dispatcher.utter_message(response="utter_units_missing")
            return []
        dispatcher.utter_message(response="utter_units_saved", units=units)
        return [SlotSet("unit_system", units)]


class ActionRemember(Action):
    def name(self) -> str:
        return "action_remember"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        if not about_remembering(tracker):
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        fact = said_fact(tracker)
        if fact is None:
            dispatcher.utter_message(response="utter_remember_missing")
            return []
        facts = facts_of(tracker)
        if any(f["text"].casefold() == fact.casefold() for f in facts):
            dispatcher.utter_message(response="utter_remembered_already", fact=told(fact))
            return []
        if len(facts) >= MAX_FACTS:
            dispatcher.utter_message(response="utter_remember_full")
            return []
        dispatcher.utter_message(response="utter_remembered", fact=told(fact))
        return [SlotSet("user_memories", [*facts, {"text": fact, "at": time.time()}])]


class ActionAskMyName(Action):
    def name(self) -> str:
        return "action_ask_my_name"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        name = tracker.get_slot("user_name")
        if name:
            dispatcher.utter_message(response="utter_your_name", name=name)
        else:
            dispatcher.utter_message(response="utter_name_unknown")
        return []


def summary(tracker: Tracker) -> str:
    """Everything remembered, as sentences; the latest few facts, then how many more."""
    sentences = []
    name, units = tracker.get_slot("user_name"), tracker.get_slot("unit_system")
    if name:
        sentences.append(f"Your name is {name}.")
    if units:
        sentences.append(f"You prefer {units} units.")
    facts = sorted(facts_of(tracker), key=lambda f: f["at"])
    if facts:
        spoken = [f"that {told(f['text'])}" for f in facts[-SPOKEN_FACTS:]]
        more = len(facts) - len(spoken)
        if more:
            spoken.append(f"{more} more thing{'s' if more > 1 else ''}")
        sentences.append(f"I remember {join_words(spoken)}.")
    return " ".join(sentences)


class ActionRecall(Action):
    def name(self) -> str:
        return "action_recall"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        said = summary(tracker)
        if said:
            dispatcher.utter_message(response="utter_recall", summary=said)
        else:
            dispatcher.utter_message(response="utter_recall_nothing")
        return []


# What each memory intent set, for "forget that": the latest of them still remembered.
_SET_BY = {"tell_name": "name", "set_units": "units", "remember": "fact"}
_WORD = re.compile(r"[\w']+")
_NOT_A_FACT = frozenset(
    ("that", "this", "one", "please", "last", "thing", "things", "it", "the", "a", "an", "fact",
     "memory", "now", "again", "just", "i", "you", "me", "said", "told", "what", "too", "then")
)  # fmt: skip


def named_fact(tracker: Tracker, facts: list[Fact]) -> Fact | None:
    """The fact named in "forget that my dog's name is Biscuit": most of its words in one."""
    text = tracker.latest_message.get("text") or ""
    match = _FORGET_CUE.match(text)
    if not match:
        return None
    wanted = {w.lower() for w in _WORD.findall(match["fact"])} - _NOT_A_FACT
    if not wanted:  # "forget that one please", "forget that last thing"
        return None
    best, best_share = None, 0.5
    for fact in facts:
        share = len(wanted & {w.lower() for w in _WORD.findall(fact["text"])}) / len(wanted)
        if share >= best_share:
            best, best_share = fact, share
    return best


def last_remembered(tracker: Tracker, facts: list[Fact]) -> str | None:
    """What "that" is: the kind of thing the latest memory turn of the conversation set and
    is still remembered ("name", "units", "fact"); else the latest fact, if any."""
    held = {
        "name": bool(tracker.get_slot("user_name")),
        "units": bool(tracker.get_slot("unit_system")),
        "fact": bool(facts),
    }
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        kind = _SET_BY.get(str(intent))
        if kind is not None and held[kind]:
            return kind
    return "fact" if facts else None


class ActionForgetThat(Action):
    def name(self) -> str:
        return "action_forget_that"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        facts = facts_of(tracker)
        fact = named_fact(tracker, facts)
        kind = "fact" if fact is not None else last_remembered(tracker, facts)
        if kind is None:
            anything = tracker.get_slot("user_name") or tracker.get_slot("unit_system")
            dispatcher.utter_message(
                response="utter_forgot_which" if anything else "utter_forgot_nothing"
            )
            return []
        if kind == "name":
            what = f"your name is {tracker.get_slot('user_name')}"
            events = [SlotSet("user_name", None), SlotSet("user_named", False)]
        elif kind == "units":
            what = f"you prefer {tracker.get_slot('unit_system')} units"
            events = [SlotSet("unit_system", None)]
        else:
            fact = fact or max(facts, key=lambda f: f["at"])
            what = told(fact["text"])
            left = [f for f in facts if f is not fact]
            events = [SlotSet("user_memories", left or None)]
        dispatcher.utter_message(response="utter_forgot_that", what=what)
        return events


def _undone(records: str) -> str:
    """The records' own "Done. I deleted ..." after the memory's "Done.": without its "Done"."""
    return re.sub(r"^\s*done[.,!]?\s*", "", str(records), flags=re.IGNORECASE) or str(records)


class ActionForgetMe(Action):
    def name(self) -> str:
        return "action_forget_me"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        anything = (
            tracker.get_slot("user_name") or tracker.get_slot("unit_system") or facts_of(tracker)
        )
        said = "utter_forgot_me" if anything else "utter_forgot_me_nothing"
        # The records stage forgot the user's conversation records first and said how many.
        records = next(tracker.get_latest_entity_values("records_message"), None)
        if records:
            dispatcher.utter_message(response=f"{said}_and_records", records=_undone(records))
        else:
            dispatcher.utter_message(response=said)
        return [
            SlotSet("user_name", None),
            SlotSet("user_named", False),
            SlotSet("unit_system", None),
            SlotSet("user_memories", None),
        ]
