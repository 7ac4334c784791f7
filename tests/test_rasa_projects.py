"""Rasa 3.x project folders as skills (issue 13, items 1, 6, 7, 8): our own small projects under
tests/data/rasa/, in Rasa's layout, run through `assistant chat --skill`; their rules and
stories read as plain data; roles and groups in the parse; one warning per unsupported key."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.skills.loader import load_skill, parse_example
from assistant.skills.stories import ANY_VALUE, EntityCondition, Rule, SlotSet, Step
from tests.chat import action_server, chat_run

ROOT = Path(__file__).resolve().parents[1]
RASA = ROOT / "tests" / "data" / "rasa"
CAFE = RASA / "cafe"
TRAVEL = RASA / "travel"


def run_chat(
    assistant_bin: str, lines: list[str], *args: str, env: dict[str, str] | None = None
) -> tuple[list[dict[str, object]], str]:
    return chat_run(assistant_bin, lines, "--set", "dst=tracker-memory", *args, env=env)


def entities(turn: dict[str, object]) -> list[tuple[object, ...]]:
    found = turn["entities"]
    assert isinstance(found, list)
    return [(e["entity"], e["value"], e.get("role"), e.get("group")) for e in found]


@pytest.fixture(scope="module")
def cafe(assistant_bin: str) -> tuple[list[dict[str, object]], str]:
    return run_chat(
        assistant_bin,
        [
            "hello",
            "can I get a large latte",
            "thanks a lot",
            "cancel my order",
            "cancel the timer",
            "when are you open",
            "what time is it",
        ],
        "--skill",
        str(CAFE),
    )


def test_a_rasa_project_answers_with_its_responses_and_actions_package(
    cafe: tuple[list[dict[str, object]], str],
) -> None:
    turns, _ = cafe
    intents = [t["intent"]["name"] for t in turns]  # type: ignore[index]
    assert intents[:4] == ["greet", "order_drink", "thanks", "cancel_order"]
    assert turns[0]["text"] == "Welcome to the Corner Cafe! What can I get you?"
    # actions/actions.py (a package, as `rasa init` makes it) ran in-process; "latte" became
    # "caffe latte" through the [latte](drink:caffe latte) shorthand and the synonym block.
    assert turns[1]["source"] == "action"
    # The rule "take an order" runs the action and then asks (the dialogue policy).
    assert turns[1]["text"] == "One large caffe latte, coming right up. Anything else?"
    assert ("drink", "caffe latte", None, None) in entities(turns[1])
    assert turns[1]["slots"] == {"drink": "caffe latte", "size": "large"}
    assert turns[5]["text"] == "We are open from seven to five, every day but Sunday."


def test_the_users_intent_and_response_win_over_the_built_in_ones(
    cafe: tuple[list[dict[str, object]], str],
) -> None:
    turns, _ = cafe
    # `thanks` is a built-in intent too, with its own utter_thanks: the project's wins.
    assert turns[2]["text"] == "Enjoy your coffee!"
    assert turns[3]["text"] == "Your order is cancelled."
    # The built-in skills still answer what the project does not cover.
    assert turns[4]["intent"]["name"] == "cancel_timer"  # type: ignore[index]
    # The built-in `time` intent, but the project's action_time runs, not the clock's.
    assert turns[6]["intent"]["name"] == "time"  # type: ignore[index]
    assert turns[6]["text"] == "Always time for coffee."


def test_each_unsupported_key_is_one_warning_line(
    cafe: tuple[list[dict[str, object]], str],
) -> None:
    _, stderr = cafe
    warnings = [line for line in stderr.splitlines() if "is not supported" in line]
    assert warnings == [
        f"assistant: {CAFE}/domain.yml: session_config is not supported; a session lasts as "
        "long as the conversation (or its --session id)",
        f"assistant: {CAFE}/config.yml: pipeline is not supported; the assistant's own intent "
        "and entity models are trained on the project's NLU data instead",
        f"assistant: {CAFE}/config.yml: policies: TEDPolicy is not supported; rules and stories "
        "are followed as written; what they do not cover is answered by the assistant's own "
        "chain (forms, actions, responses, fallback)",
        f"assistant: {CAFE}/endpoints.yml: tracker_store is not supported; the assistant keeps "
        "its own (see the README)",
    ]


@pytest.fixture(scope="module")
def travel_actions() -> Iterator[int]:
    """The travel project's actions.py on a real rasa-sdk action server."""
    with action_server("actions", cwd=TRAVEL) as url:
        yield int(url.rsplit(":", 1)[1])


def test_roles_groups_domain_folder_and_the_endpoints_action_server(
    assistant_bin: str, travel_actions: int
) -> None:
    turns, stderr = run_chat(
        assistant_bin,
        [
            "fly from Berlin to Paris",
            "a flight to Rome from Oslo",
            "2 adults and one child",
            "what time is it",
        ],
        "--skill",
        str(TRAVEL),
        env={"TRAVEL_ACTIONS_PORT": str(travel_actions)},
    )
    assert entities(turns[0]) == [
        ("city", "Berlin", "departure", None),
        ("city", "Paris", "destination", None),
    ]
    # endpoints.yml's action_endpoint (with ${TRAVEL_ACTIONS_PORT}) ran the project's action.
    # (the tone stage may open with a word of its own for a cheerful request)
    assert turns[0]["text"].endswith("Booked on the action server: Berlin to Paris.")
    assert turns[1]["text"].endswith("Booked on the action server: Oslo to Rome.")
    # Slots mapped by role; from_trigger_intent set by the intent.
    assert turns[1]["slots"] == {"departure": "Oslo", "destination": "Rome", "trip": True}
    groups = [(e[0], e[3]) for e in entities(turns[2])]
    assert groups == [("count", "1"), ("traveller", "1"), ("count", "2"), ("traveller", "2")]
    # The built-in skills' actions still run in this process.
    assert turns[3]["intent"]["name"] == "time" and turns[3]["source"] == "action"  # type: ignore[index]
    assert "domain/intents.yml: intents.greet.use_entities is not supported" in stderr


def test_an_endpoint_variable_left_unset_is_a_clear_error(assistant_bin: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRAVEL_ACTIONS_PORT"}
    result = subprocess.run(
        [assistant_bin, "chat", "--skill", str(TRAVEL), "--once", "hi"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 1
    assert "action_endpoint.url" in result.stderr and "TRAVEL_ACTIONS_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_rules_and_stories_are_read_as_plain_data(monkeypatch: pytest.MonkeyPatch) -> None:
    cafe = load_skill(CAFE)
    assert cafe.rules[0] == Rule(
        name="greet the customer",
        steps=(Step("intent", "greet"), Step("action", "utter_greet")),
        conversation_start=True,
        source=str(CAFE / "data" / "rules.yml"),
    )
    story = cafe.stories[0]
    assert story.steps[2] == Step(
        "intent", "order_drink", entities=(EntityCondition("drink", "flat white"),)
    )
    assert story.steps[4] == Step("slot_was_set", slots=(SlotSet("drink", "flat white"),))
    assert story.steps[6] == Step(
        "or", alternatives=(Step("intent", "deny"), Step("intent", "thanks"))
    )
    assert cafe.stories[1].steps[-1] == Step("checkpoint", "ordered")
    assert cafe.actions == ("action_order_drink", "action_time")
    assert cafe.config["assistant_id"] == "corner-cafe"
    monkeypatch.setenv("TRAVEL_ACTIONS_PORT", "5055")
    travel = load_skill(TRAVEL)  # a domain/ folder: its files merge
    assert set(travel.responses) == {"utter_greet", "utter_add_travellers"}
    assert travel.slots["departure"].mappings[0].role == "departure"
    assert travel.stories[0].steps[0].entities[0] == EntityCondition("city", "Berlin", "departure")
    assert travel.action_endpoint == "http://127.0.0.1:5055"  # Rasa's /webhook is the client's


def test_slot_listed_by_name_matches_any_value(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text("version: '3.1'\nintents: [greet]\n")
    (tmp_path / "data" / "rules.yml").write_text(
        "rules:\n- rule: r\n  condition:\n  - active_loop: null\n  - slot_was_set:\n"
        "    - name\n  wait_for_user_input: false\n  steps:\n  - action: utter_x\n"
    )
    (rule,) = load_skill(tmp_path).rules
    assert rule.condition == (
        Step("active_loop", None),
        Step("slot_was_set", slots=(SlotSet("name"),)),
    )
    assert rule.condition[1].slots[0].value is ANY_VALUE and rule.wait_for_user_input is False


def test_annotations_in_all_of_rasas_forms() -> None:
    example = parse_example(
        'from [NYC](city:New York) to [LA]{"entity": "city", "value": "Los Angeles", '
        '"role": "destination", "group": "2"} with [Ann](person)',
        "book",
    )
    assert example.text == "from NYC to LA with Ann"
    (nyc, la, ann) = example.entities
    assert (nyc.entity, nyc.value, example.text[nyc.start : nyc.end]) == ("city", "New York", "NYC")
    assert (la.value, la.role, la.group, example.text[la.start : la.end]) == (
        "Los Angeles",
        "destination",
        "2",
        "LA",
    )
    assert (ann.entity, ann.value, ann.role) == ("person", "Ann", None)


def test_built_in_skills_can_be_switched_off(assistant_bin: str, tmp_path: Path) -> None:
    pipeline = tmp_path / "cafe.yaml"
    text = (ROOT / "pipelines" / "text.yaml").read_text()
    pipeline.write_text(
        text.replace("skills: [builtin]", "skills: [builtin]\nbuiltin_skills_off: [timers]")
    )
    turns, _ = run_chat(assistant_bin, ["cancel the timer"], "--pipeline", str(pipeline))
    assert turns[0]["intent"]["name"] != "cancel_timer"  # type: ignore[index]
    pipeline.write_text(
        text.replace("skills: [builtin]", "skills: [builtin]\nbuiltin_skills_off: [nope]")
    )
    result = subprocess.run(
        [assistant_bin, "chat", "--pipeline", str(pipeline), "--once", "hi"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "builtin_skills_off: no built-in skill 'nope'" in result.stderr


def test_voice_takes_skill_paths_too(assistant_bin: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [assistant_bin, "voice", "--skill", str(tmp_path / "missing"), "--input", "x.wav"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert f"--skill {tmp_path / 'missing'}: not a folder" in result.stderr


def test_a_pipelines_skills_list_takes_a_rasa_project(assistant_bin: str, tmp_path: Path) -> None:
    pipeline = tmp_path / "cafe.yaml"
    text = (ROOT / "pipelines" / "text.yaml").read_text()
    pipeline.write_text(text.replace("skills: [builtin]", f"skills: [builtin, '{CAFE}']"))
    turns, _ = run_chat(assistant_bin, ["thanks a lot"], "--pipeline", str(pipeline))
    assert turns[0]["text"] == "Enjoy your coffee!"


def test_what_is_not_implemented_is_named_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(
        "version: '3.1'\nintents: [greet]\nslots:\n  mood:\n    type: unfeaturized\n"
        "    mappings:\n    - type: custom\n      action: action_guess_mood\n"
        "responses:\n  utter_greet:\n  - text: hi\n    quick_replies: []\n  - text: hey\n"
        "    quick_replies: []\n"
    )
    (tmp_path / "data" / "nlu.yml").write_text(
        "nlu:\n- intent: greet\n  metadata: {sentiment: neutral}\n  examples: |\n    - hi\n"
    )
    (tmp_path / "data" / "stories.yml").write_text(
        "stories:\n- story: e2e\n  steps:\n  - user: hello there\n  - action: utter_greet\n"
        "- story: kept\n  steps:\n  - intent: greet\n  - bot: hi\n"
    )
    with caplog.at_level("WARNING", logger="assistant.skills"):
        skill = load_skill(tmp_path)
    assert skill.stories == ()  # both have an end-to-end step the assistant cannot follow
    assert skill.slots["mood"].type == "any"
    said = [r.getMessage().removeprefix(f"{tmp_path}/") for r in caplog.records]
    assert said == [
        "domain.yml: responses.<variation>.quick_replies is not supported; it is ignored",
        "domain.yml: slots.mood.mappings[].action is not supported; that action is not run "
        "after every message; a custom action that rules or stories run can set the slot",
        "domain.yml: slots.mood.type: unfeaturized is not supported; the slot takes any value",
        "data/nlu.yml: nlu[].metadata is not supported; it is ignored",
        "data/stories.yml: steps[].user is not supported; end-to-end steps are not followed; "
        "the rule or story that has one is left out",
        "data/stories.yml: steps[].bot is not supported; end-to-end steps are not followed; "
        "the rule or story that has one is left out",
    ]
