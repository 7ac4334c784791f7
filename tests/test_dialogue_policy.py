"""The dialogue policy of Rasa projects: rules and stories decide the next actions.

Two small Rasa 3.x projects of our own (tests/data/rasa/moods: stories and rules; cafe: rule
conditions, conversation_start, wait_for_user_input false, slot events, a form, `or`,
checkpoints and custom actions declared in the domain). First the policy alone on trackers made
of events, then their stories' conversations through the response chain, whose custom actions
run on a real rasa-sdk action server serving the project's `actions` package.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.core.stage import StageContext
from assistant.dialogue.events import ActionExecuted, ActiveLoop, Event, SlotSet, UserUttered
from assistant.dialogue.policy import Policy
from assistant.dialogue.slots import slot_events
from assistant.dialogue.stories import (
    ActionStep,
    Checkpoint,
    LoopStep,
    OrStep,
    StoryError,
    UserStep,
    linear_stories,
    read_domains,
    read_file,
    read_projects,
)
from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState, DialogueUpdate, Entity, IntentScore, Parse, Reply
from assistant.skills.loader import load_skills
from assistant.stages.dst.tracker import entities_to_json
from assistant.stages.respond.chain import ChainParams, ChainResponder

from .conftest import DATA

MOODS = DATA / "rasa" / "moods"
CAFE = DATA / "rasa" / "cafe"


def policy_of(project: Path) -> Policy:
    skills = load_skills((project,))
    quiet = read_domains([project]).quiet_slots
    types = {n: s.type for n, s in skills.slots.items() if n not in quiet}
    return Policy(read_projects([project]), types, forms=skills.forms)


def user(intent: str, **entities: str) -> UserUttered:
    found = tuple({"entity": k, "value": v, "start": 0, "end": 0} for k, v in entities.items())
    return UserUttered(text=intent, intent=intent, entities=found)


def act(*names: str) -> list[Event]:
    return [ActionExecuted(name=n) for n in names]


# --- reading rules and stories ---------------------------------------------------------------------


def test_rules_and_stories_are_read_from_the_data_folder() -> None:
    data = read_projects([CAFE])
    rules = {r.name: r for r in data.rules}
    assert rules["welcome a guest who starts with hello"].conversation_start
    assert not rules["look up the hours, then let the result decide"].wait_for_user_input
    submit = rules["place the order once the form is complete"]
    assert submit.condition == (LoopStep("drink_form"),)
    card = {s.name: s for s in data.stories}["the guest has a card"]
    assert isinstance(card.steps[0], Checkpoint) and isinstance(card.steps[1], OrStep)
    assert read_domains([CAFE]).actions == ("action_look_up_hours", "action_place_order")
    assert read_domains([CAFE]).quiet_slots == {"day", "order_number"}


def test_or_and_checkpoints_make_every_path_from_the_start() -> None:
    paths = linear_stories(read_projects([CAFE]).stories)
    assert [UserStep("ask_card"), ActionStep("utter_ask_card"), UserStep("affirm"),
            ActionStep("utter_card_discount")] in [list(p) for p in paths]  # fmt: skip
    assert [UserStep("ask_card"), ActionStep("utter_ask_card"), UserStep("have_card"),
            ActionStep("utter_card_discount")] in [list(p) for p in paths]  # fmt: skip
    assert len(paths) == 3  # both card paths and the no-card one; none starts at a checkpoint


def test_a_malformed_step_names_the_file_and_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("rules:\n- rule: r\n  steps:\n  - intnt: greet\n")
    with pytest.raises(StoryError, match=r"rules\.yml: rules\[0\]\.steps\[0\]: expected one of"):
        read_file(path)


# --- predicting --------------------------------------------------------------------------------------


def test_stories_predict_several_actions_and_then_wait() -> None:
    policy = policy_of(MOODS)
    events: list[Event] = [user("hello")]
    assert policy.predict(events) == "utter_hello"
    events += act("utter_hello")
    assert policy.predict(events) == "action_listen"
    events.append(user("feeling_down"))
    assert policy.predict(events) == "utter_lift_spirits"
    events += act("utter_lift_spirits")
    assert policy.predict(events) == "utter_helped"
    events += act("utter_helped")
    assert policy.predict(events) == "action_listen"
    assert policy.predict([*events, user("disagree")]) == "utter_bye"
    assert policy.predict([*events, user("agree")]) == "utter_glad"


def test_rules_win_anywhere_and_nothing_is_predicted_off_the_stories() -> None:
    policy = policy_of(MOODS)
    events = [user("hello"), *act("utter_hello"), user("are_you_human")]
    assert policy.predict(events) == "utter_not_human"
    assert policy.predict([*events, *act("utter_not_human")]) == "action_listen"
    # No story goes on after "I am good" with "I am good": the chain answers.
    happy = [user("hello"), *act("utter_hello"), user("feeling_good"), *act("utter_glad")]
    assert policy.predict([*happy, user("feeling_good")]) is None


def test_conversation_start_only_at_the_start() -> None:
    policy = policy_of(CAFE)
    assert policy.predict([user("greet")]) == "utter_welcome"
    later = [user("thank"), *act("utter_you_are_welcome"), user("greet")]
    assert policy.predict(later) == "utter_hello_again"


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
    later = [user("thank"), *act("utter_you_are_welcome"), *asked, user("deny")]
    assert policy.predict(later) == "utter_card_offer"
