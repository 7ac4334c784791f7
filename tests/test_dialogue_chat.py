"""The dialogue layer through `assistant chat`, as a user drives it: forms, follow-ups, timers,
persistence across processes, and custom actions on a real rasa-sdk action server."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.skills.loader import load_skills
from tests.chat import ROOT, action_server, chat
from tests.ports import free_port

RESPONSES = load_skills((BUILTIN_SKILLS_DIR,)).responses


def test_a_form_asks_accepts_the_answer_and_can_be_cancelled(assistant_bin: str) -> None:
    turns = chat(
        assistant_bin,
        [
            "set a timer",
            "ten minutes",
            "set a timer",
            "never mind",
            "add something to my shopping list",
            "oat milk",
            "and bread",
            "what's on my list",
        ],
    )
    texts = [str(t["text"]) for t in turns]
    assert texts[0] in RESPONSES["utter_ask_duration"]
    assert "ten minute timer" in texts[1]
    assert texts[2] in RESPONSES["utter_ask_duration"]
    assert texts[3] in RESPONSES["utter_form_cancelled"]
    assert texts[4] in RESPONSES["utter_ask_item"]
    assert "oat milk" in texts[5] and "bread" in texts[6]
    assert "oat milk" in texts[7] and "bread" in texts[7]
    durations = [e for e in turns[1]["entities"] if e["entity"] == "duration"]  # type: ignore[union-attr]
    assert durations == [
        {"entity": "duration", "value": 600, "text": "ten minutes", "start": 0, "end": 11}
    ]


def test_skills_answer_with_real_actions(assistant_bin: str) -> None:
    turns = chat(
        assistant_bin,
        [
            "what is 17 times 23",
            "how many centimeters in 3 inches",
            "what time is it",
            "set a timer for an hour and a half",
            "make it twenty minutes",
            "how long is left",
            "cancel my timer",
        ],
    )
    texts = [str(t["text"]) for t in turns]
    assert "391" in texts[0]
    assert "7.62" in texts[1]
    assert turns[2]["intent"] == {"name": "time", "confidence": turns[2]["intent"]["confidence"]}  # type: ignore[index]
    assert "an hour and a half" in texts[3]
    assert "twenty minute" in texts[4]
    assert "minute" in texts[5]
    assert turns[6]["intent"]["name"] == "cancel_timer"  # type: ignore[index]


def test_a_session_survives_a_restart(assistant_bin: str, tmp_path: Path) -> None:
    session = f"persist-{os.getpid()}"
    chat(assistant_bin, ["add peanut butter to my shopping list"], "--session", session)
    (turn,) = chat(assistant_bin, ["what's on my shopping list"], "--session", session)
    assert "peanut butter" in str(turn["text"])
    (other,) = chat(assistant_bin, ["what's on my shopping list"], "--session", session + "-x")
    assert "peanut butter" not in str(other["text"])


def test_a_timer_announces_itself(assistant_bin: str) -> None:
    process = subprocess.Popen(
        [assistant_bin, "chat", "--set", "dst=tracker-memory"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("set a timer for 2 seconds\n")
    process.stdin.flush()
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while len(lines) < 2 and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1)
        if ready:
            lines.append(process.stdout.readline().strip())
    process.stdin.close()
    process.wait(60)
    assert "two second timer" in lines[0]
    assert "Your two second timer is done." in lines[1]


@pytest.fixture(scope="module")
def calculator_actions() -> Iterator[str]:
    """A real rasa-sdk action server on loopback, serving the calculator skill's actions."""
    with action_server("assistant.skills.calculator.actions") as url:
        yield url


def test_actions_run_on_an_action_server(
    assistant_bin: str, calculator_actions: str, tmp_path: Path
) -> None:
    models = tmp_path / "models.yaml"
    models.write_text(
        "extends: default\nrespond:\n  remote:\n    backend: chain\n"
        f"    params: {{action_endpoint: '{calculator_actions}', generation: null}}\n"
    )
    turns = chat(
        assistant_bin,
        ["what is 6 times 7", "hello"],
        "--models",
        str(models),
        "--set",
        "respond=remote",
        "--set",
        "dst=tracker-memory",
    )
    assert "42" in str(turns[0]["text"]) and turns[0]["source"] == "action"
    assert turns[1]["intent"]["name"] == "greet"  # type: ignore[index]


def test_an_unreachable_action_server_is_a_clear_error(assistant_bin: str, tmp_path: Path) -> None:
    models = tmp_path / "models.yaml"
    models.write_text(
        "extends: default\nrespond:\n  remote:\n    backend: chain\n"
        f"    params: {{action_endpoint: 'http://127.0.0.1:{free_port()}', generation: null}}\n"
    )
    result = subprocess.run(
        [assistant_bin, "chat", "--models", str(models), "--set", "respond=remote", "--once", "hi"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "is not reachable" in result.stderr and "Traceback" not in result.stderr


def test_timers_still_running_when_the_chat_ends_are_mentioned(assistant_bin: str) -> None:
    session = f"timers-{os.getpid()}"

    def run(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [assistant_bin, "chat", "--session", session],
            input=line + "\n",
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )

    ended = run("set a timer for ten minutes")
    assert "1 timer still running" in ended.stderr, ended.stderr
    assert f"assistant chat --session {session}` picks it up" in ended.stderr
    assert "not mapped to a Presidio entity" not in ended.stderr  # no library noise

    resumed = run("cancel the timer")  # the next process has it, and can cancel it
    assert "cancel" in resumed.stdout.lower(), resumed.stdout
    assert "still running" not in resumed.stderr, resumed.stderr


def test_a_question_for_documents_without_any_is_an_honest_i_dont_know(
    assistant_bin: str, tmp_path: Path
) -> None:
    """No `--knowledge`: nothing was searched, and the answer does not pretend otherwise."""
    (turn,) = chat(assistant_bin, ["what do my notes say about the wifi password"])
    assert turn["intent"]["name"] == "ask_knowledge"  # type: ignore[index]
    assert turn["text"] in RESPONSES["utter_ask_knowledge_unknown"], turn["text"]
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "car.md").write_text("The car is insured with Lakeside Mutual.\n")
    (with_notes,) = chat(
        assistant_bin, ["what do my notes say about the wifi password"], "--knowledge", str(notes)
    )
    assert with_notes["text"] in RESPONSES["utter_ask_knowledge_none"], with_notes["text"]


def test_cancel_it_means_the_timer_just_set(assistant_bin: str) -> None:
    turns = chat(
        assistant_bin,
        [
            "set a timer for eight minutes", "cancel it", "what timers do I have",
            "set a timer for 2 minutes", "set a timer for 5 minutes", "cancel it",
            "never mind",
        ],
        "--set", "dst=tracker-memory",
    )  # fmt: skip
    texts = [str(t["text"]) for t in turns]
    assert "cancelled your eight minute timer" in texts[1], texts
    assert "don't have any timers" in texts[2], texts
    assert "Which one should I cancel?" in texts[5], texts  # two timers: it asks which
    assert texts[6] in RESPONSES["utter_stop"], texts  # ... and "never mind" lets it go
