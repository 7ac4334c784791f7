"""The dialogue policy of Rasa projects: rules and stories decide the next actions.

Two small Rasa 3.x projects of our own (tests/data/rasa/moods: stories and rules;
tests/data/rasa/corner_cafe: rule conditions, conversation_start, wait_for_user_input false, slot
events, a form, `or`, checkpoints and custom actions declared in the domain). First the policy
alone on trackers made of events, then their stories' conversations through the response chain,
whose custom actions run in-process and on a real rasa-sdk action server serving the project's
`actions` package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.core.stage import StageContext
from assistant.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    Event,
    ReminderTriggered,
    SlotSet,
    UserUttered,
)
from assistant.dialogue.policy import Policy, skills_policy
from assistant.dialogue.slots import slot_events
from assistant.dialogue.stories import (
    ActionStep,
    Checkpoint,
    LoopStep,
    OrStep,
    SlotStep,
    UserStep,
    from_skills,
    linear_stories,
    max_history,
)
from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState, DialogueUpdate, Entity, IntentScore, Parse, Reply
from assistant.nlu.results import entities_to_json
from assistant.skills.loader import load_skills
from assistant.stages.respond.chain import ChainParams, ChainResponder
from tests.chat import action_server
from tests.chat import chat as assistant_chat
from tests.dialogue_state import dialogue_state

from .conftest import DATA

MOODS = DATA / "rasa" / "moods"
CAFE = DATA / "rasa" / "corner_cafe"


def policy_of(project: Path) -> Policy:
    policy = skills_policy(load_skills((project,)))
    assert policy is not None
    return policy


def user(intent: str, **entities: str) -> UserUttered:
    found = tuple({"entity": k, "value": v, "start": 0, "end": 0} for k, v in entities.items())
    return UserUttered(text=intent, intent=intent, entities=found)


def act(*names: str) -> list[Event]:
    return [ActionExecuted(name=n) for n in names]


# --- reading rules and stories ---------------------------------------------------------------


def test_the_loaders_rules_and_stories_become_steps() -> None:
    data = from_skills(load_skills((CAFE,)).rules, ())
    rules = {r.name: r for r in data.rules}
    assert rules["welcome a guest who starts with hello"].conversation_start
    assert not rules["look up the hours, then let the result decide"].wait_for_user_input
    submit = rules["place the order once the form is complete"]
    assert submit.condition == (LoopStep("drink_form"),)
    assert submit.steps[1:3] == (LoopStep(None), SlotStep("requested_slot", None))
    card = {s.name: s for s in from_skills((), load_skills((CAFE,)).stories).stories}
    steps = card["the guest has a card"].steps
    assert isinstance(steps[0], Checkpoint) and isinstance(steps[1], OrStep)
    assert steps[1].options == ((UserStep("affirm"),), (UserStep("have_card"),))


def test_or_and_checkpoints_make_every_path_from_the_start() -> None:
    paths = linear_stories(from_skills((), load_skills((CAFE,)).stories).stories)
    assert [UserStep("ask_card"), ActionStep("utter_ask_card"), UserStep("affirm"),
            ActionStep("utter_card_discount")] in [list(p) for p in paths]  # fmt: skip
    assert [UserStep("ask_card"), ActionStep("utter_ask_card"), UserStep("have_card"),
            ActionStep("utter_card_discount")] in [list(p) for p in paths]  # fmt: skip
    assert len(paths) == 3  # both card paths and the no-card one; none starts at a checkpoint


def test_only_slots_that_influence_the_conversation_are_in_the_states() -> None:
    policy = policy_of(CAFE)
    assert {"drink", "size", "open_that_day"} <= policy.featurizer.slots
    assert not {"day", "order_number"} & policy.featurizer.slots  # influence_conversation false


# --- predicting ------------------------------------------------------------------------------


def test_stories_predict_several_actions_and_then_wait() -> None:
    policy = policy_of(MOODS)
    events: list[Event] = [user("greet")]
    assert policy.predict(events) == "utter_hello"
    events += act("utter_hello")
    assert policy.predict(events) == "action_listen"
    events.append(user("feeling_down"))
    assert policy.predict(events) == "utter_lift_spirits"
    events += act("utter_lift_spirits")
    assert policy.predict(events) == "utter_helped"
    events += act("utter_helped")
    assert policy.predict(events) == "action_listen"
    assert policy.predict([*events, user("deny")]) == "utter_bye"
    assert policy.predict([*events, user("affirm")]) == "utter_glad"


def test_rules_win_anywhere_and_nothing_is_predicted_off_the_stories() -> None:
    policy = policy_of(MOODS)
    events = [user("greet"), *act("utter_hello"), user("bot_challenge")]
    assert policy.predict(events) == "utter_not_human"
    assert policy.predict([*events, *act("utter_not_human")]) == "action_listen"
    # No story goes on after "I am good" with "I am good": the chain answers.
    happy = [user("greet"), *act("utter_hello"), user("feeling_good"), *act("utter_glad")]
    assert policy.predict([*happy, user("feeling_good")]) is None


def test_conversation_start_only_at_the_start() -> None:
    policy = policy_of(CAFE)
    assert policy.predict([user("greet")]) == "utter_welcome"
    later = [user("thanks"), *act("utter_you_are_welcome"), user("greet")]
    assert policy.predict(later) == "utter_hello_again"


def test_a_conversation_start_rule_wins_at_the_start_wherever_it_is_written(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text('version: "3.1"\nintents: [greet]\n')
    (tmp_path / "data" / "rules.yml").write_text(
        'version: "3.1"\nrules:\n'
        "- rule: any time\n  steps:\n  - intent: greet\n  - action: utter_again\n"
        "- rule: first\n  conversation_start: true\n  steps:\n  - intent: greet\n"
        "  - action: utter_first\n"
    )
    policy = policy_of(tmp_path)
    assert policy.predict([user("greet")]) == "utter_first"
    assert policy.predict([user("greet"), *act("utter_first"), user("greet")]) == "utter_again"


def test_wait_for_user_input_false_lets_slot_rules_go_on() -> None:
    policy = policy_of(CAFE)
    events: list[Event] = [user("ask_hours", day="sunday")]
    assert policy.predict(events) == "action_look_up_hours"
    events += act("action_look_up_hours")
    assert policy.predict([*events, SlotSet(name="open_that_day", value=False)]) == "utter_closed"
    assert policy.predict([*events, SlotSet(name="open_that_day", value=True)]) == "utter_open"


def test_a_form_is_started_by_its_rule_and_submitted_by_another() -> None:
    policy = policy_of(CAFE)
    events: list[Event] = [user("order_drink")]
    assert policy.predict(events) == "drink_form"
    events += [*act("drink_form"), ActiveLoop(name="drink_form")]
    assert policy.predict(events) == "action_listen"
    events.append(user("inform", drink="latte"))
    assert policy.predict(events) == "drink_form"  # the active form takes the answer
    # A question in the middle: the rule about the form answers it, then the form goes on.
    asked = [*events, *act("drink_form"), user("ask_price")]
    assert policy.predict(asked) == "utter_price"
    assert policy.predict([*asked, *act("utter_price")]) == "drink_form"
    done = [*events, *act("drink_form"), ActiveLoop(name=None)]
    assert policy.predict(done) == "action_place_order"
    assert policy.predict([*done, *act("action_place_order")]) == "utter_anything_else"


def test_a_checkpointed_story_and_its_or_branches() -> None:
    policy = policy_of(CAFE)
    asked: list[Event] = [user("ask_card"), *act("utter_ask_card")]
    assert policy.predict(asked) == "action_listen"
    assert policy.predict([*asked, user("have_card")]) == "utter_card_discount"
    assert policy.predict([*asked, user("affirm")]) == "utter_card_discount"
    assert policy.predict([*asked, user("deny")]) == "utter_card_offer"
    # Later in a conversation the story still applies (the older turns are forgotten).
    later = [user("thanks"), *act("utter_you_are_welcome"), *asked, user("deny")]
    assert policy.predict(later) == "utter_card_offer"


# --- the stories' conversations through the response chain --------------------------------------


class Conversation:
    """The dst stage's bookkeeping and the response chain, without NLU: each turn is given its
    intent and entities, so the test is about the dialogue, not the classifier."""

    def __init__(self, skill_dirs: tuple[Path, ...], **params: Any) -> None:
        self.skills = load_skills(skill_dirs)
        self.chain = ChainResponder(
            name="respond",
            params=ChainParams.model_validate({"seed": 0, "generation": None, **params}),
            context=StageContext(skill_dirs=skill_dirs),
        )
        self.tracker = Tracker("chat")
        self.turn = 0
        self.sources: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.chain.start())

    def close(self) -> None:
        self.loop.run_until_complete(self.chain.stop())
        self.loop.close()

    def say(self, intent: str, text: str = "", **entities: str) -> str:
        self.turn += 1
        found = tuple(
            Entity(entity=k, value=v, text=v, start=0, end=len(v)) for k, v in entities.items()
        )
        parse = Parse(
            session_id="chat",
            turn_id=self.turn,
            text=text or intent,
            intent=IntentScore(name=intent, confidence=1.0),
            entities=found,
        )
        self.tracker.extend(
            [
                UserUttered(text=parse.text, intent=intent, entities=entities_to_json(found)),
                *slot_events(self.skills.slots.values(), parse, self.tracker.state),
            ]
        )
        message = dialogue_state(self.tracker, parse, self.turn, applied=True)
        return self.loop.run_until_complete(self._respond(message))

    async def _respond(self, message: DialogueState) -> str:
        reply = ""
        async for out in self.chain.process(message):
            if isinstance(out, DialogueUpdate):
                self.tracker.extend(out.events)
            elif isinstance(out, Reply):
                reply = out.text
                self.sources.append(out.source)
        return reply

    def actions(self) -> list[str]:
        """The actions of the latest turn, in order."""
        events = self.tracker.events
        last = max(i for i, e in enumerate(events) if isinstance(e, UserUttered))
        return [e.name for e in events[last:] if isinstance(e, ActionExecuted)]


@pytest.fixture
def conversations() -> Iterator[list[Conversation]]:
    """Conversations a test opens, each closed (its chain stopped) at the end."""
    opened: list[Conversation] = []
    yield opened
    for chat in opened:
        chat.close()


@pytest.fixture(scope="module")
def cafe_actions() -> Iterator[str]:
    """The cafe project's `actions` package on a real rasa-sdk action server."""
    with action_server("actions", cwd=CAFE) as url:
        yield url


def test_the_mood_stories_through_the_chain(conversations: list[Conversation]) -> None:
    chat = Conversation((MOODS,))
    conversations.append(chat)
    assert chat.say("greet") == "Hi there! How are you feeling today?"
    assert chat.say("feeling_down") == (
        "Here is a photo of a sleepy otter, maybe it helps: Did that make it a little better?"
    )
    assert chat.actions() == ["utter_lift_spirits", "utter_helped"]
    assert chat.say("deny") == "Take care, see you soon."
    chat = Conversation((MOODS,))
    conversations.append(chat)
    chat.say("greet")
    assert chat.say("feeling_good") == "Lovely, keep it up!"
    assert chat.say("bot_challenge") == "I am a program, not a person."
    assert chat.sources == ["template"] * 3


def test_with_the_built_in_skills_the_chain_answers_what_no_story_covers(
    conversations: list[Conversation],
) -> None:
    from assistant.config import BUILTIN_SKILLS_DIR

    chat = Conversation((BUILTIN_SKILLS_DIR, MOODS))
    conversations.append(chat)
    assert chat.say("greet") == "Hi there! How are you feeling today?"
    assert chat.say("help") != ""  # the built-in skills' own template
    assert chat.sources[-1] == "template" and chat.actions() == ["utter_help"]


@pytest.mark.parametrize("where", ["in-process", "action server"])
def test_the_cafe_conversations_through_the_chain(
    where: str, cafe_actions: str, conversations: list[Conversation]
) -> None:
    endpoint = cafe_actions if where == "action server" else None
    chat = Conversation((CAFE,), action_endpoint=endpoint)
    conversations.append(chat)
    assert chat.say("greet") == "Welcome to the Corner Cafe! What can I get you?"
    assert chat.say("order_drink") == "Which drink would you like?"
    assert chat.actions() == ["drink_form"]
    assert chat.tracker.state.active_form == "drink_form"
    assert chat.say("ask_price") == "Every drink is three euros. Which drink would you like?"
    assert chat.say("inform", drink="latte") == "Small, medium or large?"
    reply = chat.say("inform", size="large")
    assert reply.startswith("One large latte coming up, order number ")
    assert reply.endswith(" Anything else?")
    assert chat.actions() == ["drink_form", "action_place_order", "utter_anything_else"]
    assert chat.tracker.state.active_form is None
    assert chat.tracker.slots["drink"] == "latte"  # slots stay set after the form, as in Rasa
    assert chat.say("greet") == "Hello again!"
    assert chat.say("ask_hours", day="sunday") == "Sorry, we are closed that day."
    assert chat.actions() == ["action_look_up_hours", "utter_closed"]
    assert chat.say("ask_hours", day="monday") == "We are open then, from eight to six."


def test_the_card_stories_through_the_chain(conversations: list[Conversation]) -> None:
    chat = Conversation((CAFE,))
    conversations.append(chat)
    assert chat.say("ask_card") == "Do you have a loyalty card?"
    assert chat.say("have_card") == "Great, you get ten percent off."
    chat = Conversation((CAFE,))
    conversations.append(chat)
    chat.say("thanks")
    chat.say("ask_card")
    assert chat.say("deny") == "You can get one at the counter for free."


@pytest.mark.parametrize("where", ["in-process", "action server"])
def test_a_reminder_a_rule_set_fires_into_another_rule(
    where: str, cafe_actions: str, conversations: list[Conversation]
) -> None:
    chat = Conversation((CAFE,), action_endpoint=cafe_actions if where != "in-process" else None)
    conversations.append(chat)
    assert chat.say("remind_pickup") == "I'll tell you when it's ready."
    (reminder,) = chat.tracker.state.reminders.values()
    assert (reminder.name, reminder.intent) == ("pickup", "EXTERNAL_pickup_ready")
    # When it is due, the dst stage records it and hands the responder its intent, as here.
    chat.tracker.extend([ReminderTriggered(name="pickup")])
    assert chat.say("EXTERNAL_pickup_ready", " ") == "Your drink is ready at the counter."


def test_a_declared_action_no_code_defines_is_an_apology_and_a_warning(
    tmp_path: Path, conversations: list[Conversation], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(
        'version: "3.1"\nintents: [greet]\nactions: [action_not_written_yet]\n'
        "responses:\n  utter_greet:\n    - text: Hi!\n"
    )
    (tmp_path / "data" / "rules.yml").write_text(
        'version: "3.1"\nrules:\n- rule: r\n  steps:\n  - intent: greet\n'
        "  - action: utter_greet\n  - action: action_not_written_yet\n"
    )
    chat = Conversation((tmp_path,), action_apology="Sorry, that failed.")
    conversations.append(chat)
    assert chat.say("greet") == "Hi! Sorry, that failed."
    assert "action action_not_written_yet is declared in the domain but no actions define it" in (
        caplog.text
    )


def test_a_rule_to_the_default_fallback_leaves_the_turn_to_the_chain(
    tmp_path: Path, conversations: list[Conversation]
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(
        'version: "3.1"\nintents: [nlu_fallback]\nresponses:\n  utter_greet:\n    - text: Hi!\n'
    )
    (tmp_path / "data" / "rules.yml").write_text(
        'version: "3.1"\nrules:\n- rule: r\n  steps:\n  - intent: nlu_fallback\n'
        "  - action: action_default_fallback\n"
    )
    chat = Conversation((tmp_path,), fallback="I did not get that.")
    conversations.append(chat)
    assert chat.say("nlu_fallback") == "I did not get that."
    assert chat.sources == ["fallback"]


def test_a_form_left_midway_is_not_submitted(conversations: list[Conversation]) -> None:
    chat = Conversation((CAFE,))
    conversations.append(chat)
    chat.say("order_drink")
    assert chat.say("stop") == "Okay, cancelled."
    assert chat.tracker.state.active_form is None
    assert "action_place_order" not in chat.actions()
    # Another question that fills no slot leaves the form; a rule answers it.
    chat.say("order_drink")
    assert chat.say("thanks") == "You're welcome!"
    assert chat.tracker.state.active_form is None


def test_max_history_comes_from_the_config() -> None:
    config = {"policies": [{"name": "RulePolicy"}, {"name": "MemoizationPolicy", "max_history": 3}]}
    assert max_history(config) == 3
    assert max_history({"policies": [{"name": "MemoizationPolicy"}]}) == 5
    assert policy_of(CAFE).max_history == 5


# --- through `assistant chat --skill`, with the assistant's own NLU trained on the project ------


def in_memory(project: Path) -> tuple[str, ...]:
    return ("--set", "dst=tracker-memory", "--skill", str(project))


def test_the_mood_stories_through_assistant_chat(assistant_bin: str) -> None:
    turns = assistant_chat(
        assistant_bin, ["hi there", "I feel so sad today", "no, not really"], *in_memory(MOODS)
    )
    assert [t["intent"]["name"] for t in turns] == ["greet", "feeling_down", "deny"]
    texts = [t["text"] for t in turns]
    assert texts[0] == "Hi there! How are you feeling today?"
    # (the tone stage may open with a word of sympathy for a sad user)
    assert texts[1].endswith(
        "Here is a photo of a sleepy otter, maybe it helps: Did that make it a little better?"
    )
    # (and, for a user who sounds down, may offer what it can do after the words)
    assert texts[2].startswith("Take care, see you soon."), texts[2]


def test_the_cafe_stories_through_assistant_chat(assistant_bin: str) -> None:
    turns = assistant_chat(
        assistant_bin,
        [
            "hello",
            "can I order something to drink",
            "what does it cost",
            "a flat white",
            "large please",
            "is the cafe open on sunday",
        ],
        *in_memory(CAFE),
    )
    texts = [t["text"] for t in turns]
    assert texts[:4] == [
        "Welcome to the Corner Cafe! What can I get you?",
        "Which drink would you like?",
        "Every drink is three euros. Which drink would you like?",
        "Small, medium or large?",
    ]
    assert texts[4].startswith("One large flat white coming up, order number ")
    assert texts[4].endswith(" Anything else?")
    assert texts[5] == "Sorry, we are closed that day."
