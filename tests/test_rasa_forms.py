"""Rasa forms and responses with a Rasa 3.x project of our own (tests/data/rasa/restaurant).

The form engine (`Forms.run`) runs with the project's real `FormValidationAction` through
rasa-sdk, in-process and on a rasa-sdk action server on 127.0.0.1. The conversation is given its
intents and entities (no classifier: this is about the dialogue), and what the project's rules do
around the form (activate it on `request_restaurant`, answer chitchat and go back to the form,
say `utter_submit` and `utter_menu` once it is complete) is done here as the dialogue policy will.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.dialogue.actions import (
    ActionRunner,
    HttpActions,
    InProcessActions,
    domain_json,
    import_actions_module,
)
from assistant.dialogue.events import ActiveLoop, BotUttered, UserUttered
from assistant.dialogue.responses import ResponsePicker
from assistant.dialogue.slots import slot_events
from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState, DialogueUpdate, Entity, IntentScore, Parse
from assistant.nlu.results import entities_to_json
from assistant.skills.loader import SkillSet, load_skill
from assistant.stages.respond.answer import Answer, SkillAnswers, shown_record
from assistant.stages.respond.forms import FormRun, Forms
from tests.chat import action_server
from tests.dialogue_state import dialogue_state

PROJECT = Path(__file__).parent / "data" / "rasa" / "restaurant"
SKILLS = SkillSet((load_skill(PROJECT),))
FORM = "restaurant_form"


def in_process() -> InProcessActions:
    module = import_actions_module(PROJECT / "actions" / "actions.py", "rasa_restaurant_actions")
    return InProcessActions([module], timeout_s=5.0)


class Conversation:
    """The dst stage's bookkeeping, the form engine, and the project's rules around the form."""

    def __init__(self, actions: ActionRunner, channel: str | None = None) -> None:
        picker = ResponsePicker(SKILLS.response_variants, seed=0, channel=channel)
        self.answers = SkillAnswers(picker, actions, domain_json(SKILLS), "Sorry.")
        self.forms = Forms(SKILLS.forms, ["stop"], self.answers)
        self.tracker = Tracker("chat")
        self.turn = 0
        self.updates: list[DialogueUpdate] = []

    async def say(self, intent: str, text: str = "", **entities: Any) -> str:
        self.turn += 1
        found = tuple(
            Entity(entity=name, value=value, text=str(value), start=0, end=0)
            for name, value in entities.items()
        )
        parse = Parse(
            session_id="chat",
            turn_id=self.turn,
            text=text or intent,
            intent=IntentScore(name=intent, confidence=1.0),
            entities=found,
        )
        events = [
            UserUttered(text=parse.text, intent=intent, entities=entities_to_json(found)),
            *slot_events(SKILLS.slots.values(), parse, self.tracker.state, SKILLS.forms),
        ]
        self.tracker.extend(events)
        message = dialogue_state(self.tracker, parse, self.turn)
        answer = await self.rules(message)
        self.tracker.extend(answer.events)
        self.updates.append(
            DialogueUpdate(session_id="chat", turn_id=self.turn, events=tuple(answer.events))
        )
        return " ".join(answer.texts)

    async def rules(self, state: DialogueState) -> Answer:
        """data/rules.yml, as the policy runs it."""
        answer = Answer()
        intent = state.parse.intent.name
        if state.active_form is None and intent != "request_restaurant":
            self.answers.say_template(f"utter_{intent}", state, answer)
            return answer
        run = await self.forms.run(FORM, state, answer)
        if run is FormRun.REJECTED:
            if intent == "chitchat":  # the rule: utter_chitchat, then back to the form
                self.answers.say_template("utter_chitchat", state, answer)
            run = await self.forms.resume(FORM, state, answer)
        if run is FormRun.DONE:  # the submit rule
            self.answers.say_template("utter_submit", state, answer)
            self.answers.say_template("utter_menu", state, answer)
        return answer

    @property
    def slots(self) -> dict[str, Any]:
        return self.tracker.slots


async def booking(chat: Conversation) -> list[str]:
    """The story of data/stories.yml, with a chitchat detour; every reply."""
    return [
        await chat.say("request_restaurant", "I'd like to book a table"),
        await chat.say("inform", "vietnamese food", cuisine="vietnamese"),
        await chat.say("chitchat", "do you like italian food", cuisine="italian"),
        await chat.say("inform", "italian", cuisine="italian"),
        await chat.say("inform", "we are 0", number=0),
        await chat.say("inform", "we are 4", number=4),
        await chat.say("affirm", "yes"),
        await chat.say("affirm", "yes please"),
    ]


def check_booking(chat: Conversation, replies: list[str]) -> None:
    assert replies == [
        "What cuisine would you like? 1. Italian, 2. Chinese.",
        # Rejected by validate_cuisine, with the action's own message, and asked again.
        "Sorry, we don't serve vietnamese food. What cuisine would you like? 1. Italian, "
        "2. Chinese.",
        # chitchat is an ignored intent of the form: "italian" in it fills nothing.
        "I'd love to chat, but let's book your table first. What cuisine would you like? "
        "1. Italian, 2. Chinese.",
        "For how many people?",
        "I can only book for one guest or more. For how many people?",
        "Do you want to sit outside?",
        # required_slots overridden by the action: a heater, for a table outside only.
        "Shall we put a heater by your table?",
        # extract_heater filled the custom slot; the submit rule's conditional response.
        "All done! A table outside for 4 people, italian food. Here is the menu.",
    ]
    # Slots stay set after the form, as in Rasa.
    assert chat.slots["cuisine"] == "italian" and chat.slots["num_people"] == 4
    assert chat.slots["outdoor_seating"] is True and chat.slots["heater"] is True
    assert chat.tracker.state.active_form is None and chat.slots.get("requested_slot") is None


def test_a_booking_with_the_validation_action_in_process() -> None:
    chat = Conversation(in_process())
    check_booking(chat, asyncio.run(booking(chat)))
    # The image of the menu is in the record, not in the words.
    assert shown_record(chat.updates[-1:]) == {
        "responses": [
            {"text": "Here is the menu.", "image": "https://example.org/menu/italian.png"}
        ]
    }
    # Buttons are in the record too.
    assert shown_record(chat.updates[:1])["responses"][0]["buttons"][0] == {
        "title": "Italian",
        "payload": '/inform{"cuisine": "italian"}',
    }


def test_a_table_inside_skips_the_heater_and_prefilled_slots_are_validated() -> None:
    async def talk(chat: Conversation) -> list[str]:
        return [
            # Slots given with the request are validated as the form starts: japanese is fine.
            await chat.say("request_restaurant", "sushi for two", cuisine="japanese", number=2),
            await chat.say("deny", "no"),
        ]

    chat = Conversation(in_process())
    assert asyncio.run(talk(chat)) == [
        "Do you want to sit outside?",
        "All done! A table inside for 2 people, japanese food. Here is the menu.",
    ]
    assert "heater" not in chat.slots


def test_not_intent_and_an_intent_outside_the_form() -> None:
    async def talk(chat: Conversation) -> list[str]:
        return [
            await chat.say("request_restaurant", "a table please", cuisine="chinese"),
            # num_people's mapping has not_intent: thankyou.
            await chat.say("thankyou", "thanks for 2 things", number=2),
        ]

    chat = Conversation(in_process())
    replies = asyncio.run(talk(chat))
    assert replies[0] == "For how many people?"
    assert chat.slots.get("num_people") is None
    assert replies[1].endswith("For how many people?")


@pytest.fixture(scope="module")
def restaurant_actions() -> Iterator[str]:
    """The project's actions package on a real rasa-sdk action server, on 127.0.0.1."""
    with action_server("actions", cwd=PROJECT) as url:
        yield url


def test_a_booking_with_the_validation_action_on_the_action_server(restaurant_actions: str) -> None:
    async def talk() -> tuple[Conversation, list[str]]:
        actions = HttpActions(restaurant_actions, timeout_s=5.0)
        await actions.connect()
        try:
            chat = Conversation(actions)
            return chat, await booking(chat)
        finally:
            await actions.close()

    chat, replies = asyncio.run(talk())
    check_booking(chat, replies)


def test_the_form_is_active_while_it_asks() -> None:
    async def talk(chat: Conversation) -> None:
        await chat.say("request_restaurant")

    chat = Conversation(in_process())
    asyncio.run(talk(chat))
    events = chat.updates[0].events
    assert ActiveLoop(name=FORM) in events
    assert chat.tracker.state.active_form == FORM
    assert chat.tracker.state.requested_slot == "cuisine"
    assert isinstance(events[-1], BotUttered) and events[-1].data is not None


ASK_ACTION = """
from rasa_sdk import Action


class ActionAskNumPeople(Action):
    def name(self):
        return "action_ask_num_people"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=f"How many of you will eat {tracker.get_slot('cuisine')}?")
        return []
"""


def test_an_action_asks_for_a_slot_before_the_response_does(tmp_path: Path) -> None:
    (tmp_path / "ask.py").write_text(ASK_ACTION)
    module = import_actions_module(tmp_path / "ask.py", "rasa_restaurant_ask_actions")
    restaurant = import_actions_module(
        PROJECT / "actions" / "actions.py", "rasa_restaurant_actions"
    )
    chat = Conversation(InProcessActions([restaurant, module], timeout_s=5.0))

    async def talk() -> list[str]:
        return [
            await chat.say("request_restaurant", "a table please"),
            await chat.say("inform", "chinese", cuisine="chinese"),
        ]

    assert asyncio.run(talk())[1] == "How many of you will eat chinese?"
    # The question is the form's: the form stays the latest action, as in Rasa.
    assert chat.tracker.state.latest_action == FORM
