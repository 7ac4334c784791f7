"""The built-in skills' data and custom actions.

Every action runs for real through rasa-sdk's executor (`InProcessActions`), given a tracker built
from events and the domain of all built-in skills, exactly as the response chain calls it.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import pytest

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.core.stage import StageContext
from assistant.dialogue.actions import (
    ActionResult,
    InProcessActions,
    domain_json,
    import_actions_module,
)
from assistant.dialogue.events import (
    ActionExecuted,
    BotUttered,
    Event,
    ReminderCancelled,
    ReminderScheduled,
    SlotSet,
    UserUttered,
)
from assistant.dialogue.slots import slot_events
from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState, DialogueUpdate, Entity, IntentScore, Parse, Reply
from assistant.nlu.numbers import find_durations, find_numbers
from assistant.nlu.results import entities_to_json
from assistant.skills.loader import load_skill, load_skills
from assistant.stages.respond.chain import ChainParams, ChainResponder
from tests.dialogue_state import dialogue_state

SKILLS = load_skills((BUILTIN_SKILLS_DIR,))
DOMAIN = domain_json(SKILLS)
MODULES = {
    skill.name: import_actions_module(skill.actions_module, f"assistant_skill_actions.{skill.name}")
    for skill in SKILLS.skills
    if skill.actions_module is not None
}
ACTIONS = InProcessActions(list(MODULES.values()), timeout_s=10)

clock = MODULES["clock"]
timers = MODULES["timers"]


def user(text: str, intent: str, *entities: tuple[str, Any, str]) -> UserUttered:
    """A user message; each entity is (name, value, the words it was said as)."""
    found = []
    for name, value, said in entities:
        start = text.index(said)
        found.append({"entity": name, "value": value, "start": start, "end": start + len(said)})
    return UserUttered(text=text, intent=intent, entities=tuple(found))


def run(name: str, events: Sequence[Event]) -> ActionResult:
    tracker = Tracker.from_events("test-session", events)
    return asyncio.run(ACTIONS.run(name, tracker.to_rasa_json(), DOMAIN))


def said(result: ActionResult) -> str:
    return " ".join(u.text for u in result.utterances if u.text)


def after(events: list[Event], name: str, result: ActionResult) -> list[Event]:
    """The history once the chain has recorded what the action did and said."""
    return [
        *events,
        ActionExecuted(name=name),
        *result.events,
        *(BotUttered(text=u.text) for u in result.utterances if u.text),
    ]


E = TypeVar("E", bound=Event)


def of_type(result: ActionResult, kind: type[E]) -> list[E]:
    return [e for e in result.events if isinstance(e, kind)]


def slot(result: ActionResult, name: str) -> Any:
    values = [e.value for e in of_type(result, SlotSet) if e.name == name]
    assert values, f"the action did not set {name}: {result.events}"
    return values[-1]


# --- the skill files ------------------------------------------------------------------------------


NEW_SKILLS = ("clock", "timers", "shopping", "calculator", "units", "conversation")


def test_every_skill_folder_loads() -> None:
    names = [skill.name for skill in SKILLS.skills]
    assert set(NEW_SKILLS) | {"core"} <= set(names)
    for name in NEW_SKILLS:
        skill = load_skill(BUILTIN_SKILLS_DIR / name)
        assert skill.examples, name
        # An action server imports them as a package: `--actions assistant.skills.timers.actions`
        if skill.actions_module is not None:
            importlib.import_module(f"assistant.skills.{name}.actions")
    assert {
        "time", "date", "set_timer", "cancel_timer", "timer_status", "add_to_list",
        "remove_from_list", "show_list", "calculate", "convert_units", "chitchat",
        "ask_knowledge", "stop", "greet", "help",
    } <= set(SKILLS.intents)  # fmt: skip


def test_intents_have_enough_varied_examples() -> None:
    counts: dict[str, int] = defaultdict(int)
    for example in SKILLS.examples:
        counts[example.intent] += 1
    # out_of_scope is everything no skill does (weather, music, email, ...): it needs more.
    wide = counts.pop("out_of_scope")
    assert 30 <= wide <= 60, wide
    assert all(15 <= n <= 30 for n in counts.values()), counts


def test_no_example_appears_under_two_intents() -> None:
    intents: dict[str, set[str]] = defaultdict(set)
    for example in SKILLS.examples:
        intents[" ".join(example.text.lower().split())].add(example.intent)
    clashes = {text: names for text, names in intents.items() if len(names) > 1}
    assert clashes == {}


def test_numbers_and_durations_in_examples_are_annotated() -> None:
    """A CRF learns entities only from annotations: an unannotated number teaches it that
    numbers are not entities."""
    for example in SKILLS.examples:
        spans = [(s.start, s.end) for s in example.entities]

        def covered(start: int, end: int, spans: list[tuple[int, int]] = spans) -> bool:
            return any(a <= start and end <= b for a, b in spans)

        if example.intent in ("calculate", "convert_units"):
            for start, end, _ in find_numbers(example.text):
                assert covered(start, end), example
        if example.intent in ("set_timer", "cancel_timer", "timer_status"):
            for start, end, _ in find_durations(example.text):
                assert covered(start, end), example


def test_forms_responses_and_actions_follow_the_conventions() -> None:
    responses = SKILLS.responses
    for form in SKILLS.forms.values():
        intent = form.name.removesuffix("_form")
        assert intent in SKILLS.intents
        assert f"action_{intent}" in ACTIONS.names()
        for required in form.required_slots:
            assert required in SKILLS.slots
            assert f"utter_ask_{required}" in responses
    for name in ACTIONS.names():
        assert name.removeprefix("action_") in SKILLS.intents, name
    for name in (
        "utter_timer_done", "utter_ask_duration", "utter_invalid_duration", "utter_ask_item",
        "utter_form_cancelled", "utter_ask_knowledge_none", "utter_ask_knowledge_unknown",
        "utter_chitchat", "utter_help",
    ):  # fmt: skip
        assert name in responses, name
    assert responses["utter_timer_done"][0].format(timer_label="ten minute") == (
        "Your ten minute timer is done."
    )
    assert DOMAIN["slots"]["timers"]["type"] == "list"
    assert DOMAIN["slots"]["shopping_list"]["type"] == "list"


# --- clock ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "spoken"),
    [
        (15, 42, "It's 3:42 in the afternoon."),
        (9, 5, "It's 9:05 in the morning."),
        (19, 0, "It's 7 o'clock in the evening."),
        (23, 30, "It's 11:30 at night."),
        (3, 20, "It's 3:20 in the morning."),
        (0, 30, "It's 12:30 at night."),
        (0, 0, "It's midnight."),
        (12, 0, "It's noon."),
    ],
)
def test_time_is_spoken_naturally(hour: int, minute: int, spoken: str) -> None:
    assert clock.speak_time(datetime(2026, 11, 22, hour, minute)) == spoken


def test_date_is_spoken_naturally() -> None:
    day = datetime(2026, 11, 22, 10, 0)
    assert clock.speak_date(day) == "Today is Sunday, November 22."
    assert clock.speak_date(day, "is it friday today") == "No, today is Sunday, November 22."
    assert clock.speak_date(day, "what year is it") == "It's 2026."


def test_time_and_date_actions_read_the_local_clock() -> None:
    before = datetime.now()
    result = run("action_time", [user("what time is it", "time")])
    after_ = datetime.now()
    assert said(result) in {clock.speak_time(before), clock.speak_time(after_)}
    result = run("action_date", [user("what's the date today", "date")])
    assert said(result) in {clock.speak_date(before), clock.speak_date(datetime.now())}


# --- timers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "spoken"),
    [
        (5400, "an hour and a half"),
        (600, "ten minutes"),
        (45, "45 seconds"),
        (90, "a minute and a half"),
        (3600, "an hour"),
        (3900, "an hour and five minutes"),
        (9000, "two and a half hours"),
        (1, "one second"),
    ],
)
def test_durations_are_spoken_naturally(seconds: float, spoken: str) -> None:
    assert timers.speak_duration(seconds) == spoken


def set_timer(history: list[Event], text: str, seconds: float, words: str) -> ActionResult:
    history += [
        user(text, "set_timer", ("duration", seconds, words)),
        SlotSet(name="duration", value=seconds),
    ]
    return run("action_set_timer", history)


def test_set_timer_schedules_a_reminder_and_keeps_the_timer() -> None:
    history: list[Event] = []
    result = set_timer(history, "set a timer for ten minutes", 600, "ten minutes")
    assert said(result) == "Okay, a ten minute timer, starting now."
    (reminder,) = of_type(result, ReminderScheduled)
    assert reminder.intent == "timer_done"
    assert abs(reminder.trigger_at - (time.time() + 600)) < 1
    assert reminder.entities == ({"entity": "timer_label", "value": "ten minute"},)
    assert reminder.kill_on_user_message is False
    (timer,) = slot(result, "timers")
    assert timer["name"] == reminder.name and timer["label"] == "ten minute"
    assert timer["seconds"] == 600 and abs(timer["ends_at"] - reminder.trigger_at) < 1e-3
    # The tracker now holds the pending reminder, as the dst stage will schedule it.
    tracker = Tracker.from_events("s", after(history, "action_set_timer", result))
    assert set(tracker.state.reminders) == {reminder.name}


def test_make_it_twenty_minutes_replaces_the_timer_just_set() -> None:
    history: list[Event] = []
    first = set_timer(history, "set a timer for ten minutes", 600, "ten minutes")
    history = after(history, "action_set_timer", first)
    old = of_type(first, ReminderScheduled)[0]

    result = set_timer(history, "make it twenty minutes", 1200, "twenty minutes")
    assert said(result) == "Okay, I changed it to twenty minutes."
    assert [e.name for e in of_type(result, ReminderCancelled)] == [old.name]
    (new,) = of_type(result, ReminderScheduled)
    assert new.name != old.name and abs(new.trigger_at - (time.time() + 1200)) < 1
    assert [t["name"] for t in slot(result, "timers")] == [new.name]


def test_a_bare_duration_right_after_setting_corrects_it() -> None:
    history: list[Event] = []
    first = set_timer(history, "set a timer for ten minutes", 600, "ten minutes")
    history = after(history, "action_set_timer", first)
    result = set_timer(history, "fifteen minutes", 900, "fifteen minutes")
    assert len(of_type(result, ReminderCancelled)) == 1
    assert said(result) == "Okay, I changed it to fifteen minutes."


def test_another_timer_is_added_not_replaced() -> None:
    history: list[Event] = []
    first = set_timer(history, "set a timer for ten minutes", 600, "ten minutes")
    history = after(history, "action_set_timer", first)
    second = set_timer(history, "set another timer for five minutes", 300, "five minutes")
    assert of_type(second, ReminderCancelled) == []
    assert said(second) == "Okay, a five minute timer, starting now."
    assert [t["seconds"] for t in slot(second, "timers")] == [600, 300]
    # A new request after some other turn is a new timer too.
    history = after(history, "action_set_timer", second)
    history += [user("what time is it", "time"), ActionExecuted(name="action_time")]
    third = set_timer(history, "set a timer for 45 seconds", 45, "45 seconds")
    assert of_type(third, ReminderCancelled) == []
    assert len(slot(third, "timers")) == 3


def test_set_timer_without_a_duration_asks_for_one() -> None:
    result = run("action_set_timer", [user("set a timer", "set_timer")])
    assert [u.template for u in result.utterances] == ["utter_ask_duration"]
    assert of_type(result, ReminderScheduled) == []


def running(*specs: tuple[str, float, float]) -> SlotSet:
    """A `timers` slot: (name, length in seconds, seconds left)."""
    now = time.time()
    return SlotSet(
        name="timers",
        value=[
            {"name": n, "label": timers.timer_label(s), "seconds": s, "ends_at": now + left}
            for n, s, left in specs
        ],
    )


def test_cancel_the_only_timer() -> None:
    events = [running(("t1", 600, 500)), user("cancel my timer", "cancel_timer")]
    result = run("action_cancel_timer", events)
    assert said(result) == "Okay, I cancelled your ten minute timer."
    assert [e.name for e in of_type(result, ReminderCancelled)] == ["t1"]
    assert slot(result, "timers") == []


def test_cancel_picks_the_timer_by_its_duration() -> None:
    events = [
        running(("t1", 600, 500), ("t2", 300, 200)),
        user("cancel the five minute timer", "cancel_timer", ("duration", 300, "five minute")),
    ]
    result = run("action_cancel_timer", events)
    assert [e.name for e in of_type(result, ReminderCancelled)] == ["t2"]
    assert [t["name"] for t in slot(result, "timers")] == ["t1"]
    assert said(result) == "Okay, I cancelled your five minute timer."


def test_cancel_with_several_timers_asks_which_or_cancels_all() -> None:
    two = running(("t1", 600, 500), ("t2", 300, 200))
    result = run("action_cancel_timer", [two, user("cancel the timer", "cancel_timer")])
    assert of_type(result, ReminderCancelled) == []
    assert "Which one" in said(result)
    result = run("action_cancel_timer", [two, user("cancel all my timers", "cancel_timer")])
    assert sorted(e.name for e in of_type(result, ReminderCancelled)) == ["t1", "t2"]
    assert slot(result, "timers") == []
    assert said(result) == "Okay, I cancelled all two timers."


def test_cancel_and_status_without_timers() -> None:
    for name in ("action_cancel_timer", "action_timer_status"):
        result = run(name, [user("cancel my timer", "cancel_timer")])
        assert said(result) == "You don't have any timers running."


def test_timer_status_says_what_is_left_and_forgets_finished_timers() -> None:
    events = [
        running(("t1", 600, 599.6), ("t2", 3600, 1850), ("done", 60, -5)),
        user("how long is left on my timer", "timer_status"),
    ]
    result = run("action_timer_status", events)
    assert said(result) == (
        "Your ten minute timer has ten minutes left. Your one hour timer has 31 minutes left."
    )
    assert [t["name"] for t in slot(result, "timers")] == ["t1", "t2"]


# --- shopping list --------------------------------------------------------------------------------


def shopping(items: list[str]) -> SlotSet:
    return SlotSet(name="shopping_list", value=items)


def test_add_items_to_the_list() -> None:
    message = user(
        "add oat milk and eggs to my list", "add_to_list", ("item", "oat milk", "oat milk"),
        ("item", "eggs", "eggs"),
    )  # fmt: skip
    result = run("action_add_to_list", [message, SlotSet(name="item", value=["oat milk", "eggs"])])
    assert said(result) == "Added oat milk and eggs to your shopping list."
    assert slot(result, "shopping_list") == ["oat milk", "eggs"]


def test_adding_ignores_duplicates_whatever_their_case() -> None:
    message = user(
        "put Oat Milk and bread on the list", "add_to_list", ("item", "Oat Milk", "Oat Milk"),
        ("item", "bread", "bread"),
    )  # fmt: skip
    result = run("action_add_to_list", [shopping(["oat milk", "eggs"]), message])
    assert slot(result, "shopping_list") == ["oat milk", "eggs", "bread"]
    assert said(result) == "Added bread to your shopping list. Oat Milk was already on it."


def test_the_form_answer_fills_the_item_slot() -> None:
    # "add something to my list" -> "What should I add?" -> "peanut butter"
    events = [
        user("add something to my list", "add_to_list"),
        user("peanut butter", "add_to_list"),
        SlotSet(name="item", value=["peanut butter"]),
    ]
    result = run("action_add_to_list", events)
    assert slot(result, "shopping_list") == ["peanut butter"]


def test_follow_ups_continue_the_previous_request() -> None:
    history: list[Event] = [
        shopping(["eggs", "bread", "apples"]),
        user("remove eggs from my list", "remove_from_list", ("item", "eggs", "eggs")),
    ]
    first = run("action_remove_from_list", history)
    assert said(first) == "Removed eggs from your shopping list."
    history = after(history, "action_remove_from_list", first)
    history.append(user("and bread", "add_to_list", ("item", "bread", "bread")))
    second = run("action_add_to_list", history)
    assert slot(second, "shopping_list") == ["apples"]
    history = after(history, "action_add_to_list", second)
    history.append(user("add cheese", "add_to_list", ("item", "cheese", "cheese")))
    history = after(history, "action_add_to_list", run("action_add_to_list", history))
    history.append(user("also pears", "add_to_list", ("item", "pears", "pears")))
    assert slot(run("action_add_to_list", history), "shopping_list") == [
        "apples", "cheese", "pears",
    ]  # fmt: skip


def test_remove_items_that_are_and_are_not_on_the_list() -> None:
    message = user(
        "take eggs and caviar off the list", "remove_from_list", ("item", "Eggs", "eggs"),
        ("item", "caviar", "caviar"),
    )  # fmt: skip
    result = run("action_remove_from_list", [shopping(["oat milk", "eggs"]), message])
    assert slot(result, "shopping_list") == ["oat milk"]
    assert said(result) == "Removed eggs from your shopping list. Caviar wasn't on it."
    message = user("clear my shopping list", "remove_from_list")
    result = run("action_remove_from_list", [shopping(["oat milk"]), message])
    assert slot(result, "shopping_list") == []


def test_show_the_list() -> None:
    ask = user("what's on my shopping list", "show_list")
    assert said(run("action_show_list", [ask])) == "Your shopping list is empty."
    result = run("action_show_list", [shopping(["oat milk", "eggs", "bread"]), ask])
    assert said(result) == "Your list has oat milk, eggs and bread."
    ask = user("is milk on my list", "show_list", ("item", "milk", "milk"))
    result = run("action_show_list", [shopping(["oat milk", "eggs"]), ask])
    assert said(result) == "Yes, oat milk is on your list."


# --- calculator -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("what is 17 times 23", "17 times 23 is 391."),
        ("what's 144 divided by 12", "144 divided by 12 is 12."),
        ("2 plus 2", "2 plus 2 is 4."),
        ("square root of 81", "The square root of 81 is 9."),
        ("15 percent of 80", "15 percent of 80 is 12."),
        ("what's seventeen times twenty three", "17 times 23 is 391."),
        ("how much is a hundred and twenty divided by four", "120 divided by 4 is 30."),
        ("what's two and a half times four", "2.5 times 4 is 10."),
        ("2 plus 3 times 4", "2 plus 3 times 4 is 14."),
        ("(2 plus 3) times 4", "(2 plus 3) times 4 is 20."),
        ("10 minus 3 minus 2", "10 minus 3 minus 2 is 5."),
        ("2 to the power of 10", "2 to the power of 10 is 1,024."),
        ("what's 9 squared", "9 squared is 81."),
        ("10 divided by 3", "10 divided by 3 is 3.3333."),
        ("what is 1.5 plus 2.25 please", "1.5 plus 2.25 is 3.75."),
        ("subtract 3 from 10", "10 minus 3 is 7."),
        ("multiply 8 by 7", "8 times 7 is 56."),
        ("7 x 8", "7 times 8 is 56."),
        ("what's 64 divided by zero", "I can't divide by zero."),
        ("square root of minus 4", "I can't take the square root of a negative number."),
        ("10 to the power of 1000000", "That number is too big for me."),
        (
            "what is the meaning of life",
            "Sorry, I couldn't work that out. Try something like: what is 17 times 23.",
        ),
        (
            "what is 5 plus",
            "Sorry, I couldn't work that out. Try something like: what is 17 times 23.",
        ),
    ],
)
def test_calculate(text: str, answer: str) -> None:
    assert said(run("action_calculate", [user(text, "calculate")])) == answer


def test_calculator_never_evaluates_python() -> None:
    text = "__import__('os').system('echo hacked') plus 1"
    assert said(run("action_calculate", [user(text, "calculate")])).startswith("Sorry")


# --- units ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("how many centimeters in 3 inches", "3 inches is 7.62 centimeters."),
        ("convert 5 miles to kilometers", "5 miles is 8.05 kilometers."),
        ("what is 100 fahrenheit in celsius", "100 degrees Fahrenheit is 37.78 degrees Celsius."),
        (
            "what is minus 40 celsius in fahrenheit",
            "-40 degrees Celsius is -40 degrees Fahrenheit.",
        ),
        ("what's 30 degrees in fahrenheit", "30 degrees Celsius is 86 degrees Fahrenheit."),
        ("convert 300 kelvin to celsius", "300 kelvin is 26.85 degrees Celsius."),
        ("how many ounces in a pound", "1 pound is 16 ounces."),
        ("how much is 5 kilos in pounds", "5 kilograms is 11.02 pounds."),
        ("convert 60 mph to km/h", "60 miles per hour is 96.56 kilometers per hour."),
        ("how many seconds in a year", "1 year is 31,536,000 seconds."),
        ("how many cups in a gallon", "1 gallon is 16 cups."),
        (
            "how many kilograms in a meter",
            "I can't convert meters to kilograms: a length isn't a weight.",
        ),
        (
            "convert 3 liters to celsius",
            "I can't convert liters to degrees Celsius: a volume isn't a temperature.",
        ),
    ],
)
def test_convert_units(text: str, answer: str) -> None:
    assert said(run("action_convert_units", [user(text, "convert_units")])) == answer


def test_units_from_the_entities_when_the_words_are_not_in_the_text() -> None:
    message = user(
        "convert three of those into the other", "convert_units", ("number", 3, "three"),
        ("unit_from", "inch", "those"), ("unit_to", "centimeter", "other"),
    )  # fmt: skip
    assert said(run("action_convert_units", [message])) == "3 inches is 7.62 centimeters."
    message = user(
        "what is 5 furlongs in meters", "convert_units", ("unit_from", "furlong", "furlongs"),
        ("unit_to", "meter", "meters"),
    )  # fmt: skip
    assert "don't know" in said(run("action_convert_units", [message]))


# --- through the response chain -------------------------------------------------------------------


class Conversation:
    """The dst stage's bookkeeping and the response chain, without NLU: each turn is given its
    intent and entities, so the test is about the skills, not the classifier."""

    def __init__(self) -> None:
        context = StageContext(skill_dirs=(BUILTIN_SKILLS_DIR,))
        self.chain = ChainResponder(
            name="respond", params=ChainParams.model_validate({"seed": 0}), context=context
        )
        self.chain.load()
        self.tracker = Tracker("chat")
        self.turn = 0

    def say(self, text: str, intent: str, *entities: tuple[str, Any, str]) -> str:
        self.turn += 1
        found = tuple(
            Entity(entity=name, value=value, text=words, start=text.find(words),
                   end=text.find(words) + len(words))
            for name, value, words in entities
        )  # fmt: skip
        parse = Parse(
            session_id="chat",
            turn_id=self.turn,
            text=text,
            intent=IntentScore(name=intent, confidence=1.0),
            entities=found,
        )
        self.tracker.extend(
            [
                UserUttered(text=text, intent=intent, entities=entities_to_json(found)),
                *slot_events(SKILLS.slots.values(), parse, self.tracker.state),
            ]
        )
        message = dialogue_state(self.tracker, parse, self.turn)
        return asyncio.run(self._respond(message))

    async def _respond(self, message: DialogueState) -> str:
        reply = ""
        async for out in self.chain.process(message):
            if isinstance(out, DialogueUpdate):
                self.tracker.extend(out.events)
            elif isinstance(out, Reply):
                reply = out.text
        return reply


def test_a_timer_conversation_through_the_chain() -> None:
    chat = Conversation()
    assert chat.say("set a timer", "set_timer") in SKILLS.responses["utter_ask_duration"]
    assert chat.say("ten minutes", "set_timer", ("duration", 600, "ten minutes")) == (
        "Okay, a ten minute timer, starting now."
    )
    words = ("duration", 1200, "twenty minutes")
    assert chat.say("make it twenty minutes", "set_timer", words) == (
        "Okay, I changed it to twenty minutes."
    )
    (reminder,) = chat.tracker.state.reminders.values()
    assert reminder.entities == ({"entity": "timer_label", "value": "twenty minute"},)
    assert "duration" not in chat.tracker.slots  # the form's slot is reset for the next timer
    # A form can be abandoned with "never mind"; the timer keeps running.
    chat.say("set a timer", "set_timer")
    assert chat.say("never mind", "stop") == "Okay, never mind."
    assert chat.tracker.state.active_form is None and len(chat.tracker.state.reminders) == 1
    # When the reminder fires, its entities fill the template.
    label = reminder.entities[0]["value"]
    done = chat.say("", "timer_done", ("timer_label", label, ""))
    assert done in [t.format(timer_label=label) for t in SKILLS.responses["utter_timer_done"]]


def test_a_shopping_conversation_through_the_chain() -> None:
    chat = Conversation()
    assert (
        chat.say("add something to my list", "add_to_list") in (SKILLS.responses["utter_ask_item"])
    )
    chat.say("oat milk", "add_to_list", ("item", "oat milk", "oat milk"))
    chat.say("and eggs", "add_to_list", ("item", "eggs", "eggs"))
    # Removing does not fill the `item` slot, so the next "add something" asks again.
    chat.say("remove eggs from my list", "remove_from_list", ("item", "eggs", "eggs"))
    assert "item" not in chat.tracker.slots
    assert chat.say("what's on my list", "show_list") == "Your list has oat milk."
