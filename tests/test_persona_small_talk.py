"""Generated small talk states no facts (issue 14, item 5), checked with the real Gemma 3 270M
through the text pipeline's `chitchat` path, and says the persona's name as the templates do.

What is checked, on small-talk lines that invite a made-up fact (a film, a team, a city, a day):
no reply has a digit, a number word (two and up), a month or weekday, or a capitalised word
inside a sentence other than "I" and the assistant's name (a name of a person, place, team or
work). The model writes most of them itself: the examples of its prompt do the work, and the
guard that drops a sentence stating a fact (`assistant.generation.facts`) is only a backstop.

Deterministic: the shipped catalog generates greedily (temperature 0), and this module's
generator is a model of its own (its load settings differ by the seed, which greedy decoding
never uses), so its KV cache holds no other module's turns.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import load_models, load_pipeline, resolve_pipeline_path
from assistant.core.runner import Pipeline
from assistant.generation import STOP, GeneratorSpec, SentenceStream, build_prompt, load_generator
from assistant.generation.facts import states_facts, until_a_fact
from assistant.persona import load_persona
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession
from tests.conftest import DATA

# Not the prompt's examples, nor (but one) the skills' training lines.
LINES = [
    "what did you get up to this morning",
    "what's your favourite movie",
    "do you like football",
    "what's your favourite food",
    "what's your favourite city",
    "what kind of music do you like",
    "tell me something interesting",
    "who's your favourite singer",
    "which sports team do you support",
    "where did you grow up",
]
NUMBERS = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|january|february|march|april|june|july|august|september|"
    r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)


def made_up(text: str, name: str) -> list[str]:
    """What in `text` looks like a fact: digits, number or date words, names."""
    found = re.findall(r"\d+", text) + NUMBERS.findall(text)
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        words = re.findall(r"[A-Za-z][\w'’]*", sentence)[1:]
        found += [w for w in words if w[0].isupper() and w not in (name, "I") and w[:2] != "I'"]
    return found


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, Any]]:
    shipped = load_models()["respond"]["assistant"].params["generation"]
    assert shipped["temperature"] == 0.0  # the shipped small talk is greedy
    folder = tmp_path_factory.mktemp("catalog")
    models = folder / "models.yaml"
    models.write_text(
        "extends: default\nrespond:\n  assistant:\n    backend: chain\n    params:\n"
        f"      generation: {{runtime: llama, max_tokens: {shipped['max_tokens']}, "
        "temperature: 0.0, seed: 14}\n"
    )
    path = resolve_pipeline_path("text")
    plan = plan_pipeline(
        load_pipeline(path), path, load_models(models), models, {"dst": "tracker-memory"}
    )
    loop = asyncio.new_event_loop()
    running = Pipeline(plan)
    loop.run_until_complete(running.start())
    yield running, loop
    loop.run_until_complete(running.stop())
    loop.close()


def ask(pipeline: tuple[Pipeline, Any], text: str) -> Any:
    running, loop = pipeline

    async def one_turn() -> Any:
        session = TextSession(running, turn_timeout=300)  # a session per line: no history
        await session.begin()
        try:
            return await session.say(text)
        finally:
            await session.end()
            session.close()

    return loop.run_until_complete(one_turn())


def test_generated_small_talk_states_no_facts(pipeline: tuple[Pipeline, Any]) -> None:
    name = load_persona().name
    records = [ask(pipeline, line) for line in LINES]
    assert [r.to_json()["intent"]["name"] for r in records] == ["chitchat"] * len(LINES)
    replies = {line: r.text for line, r in zip(LINES, records, strict=True)}
    assert all(text.strip() for text in replies.values()), replies
    facts = {line: made_up(text, name) for line, text in replies.items()}
    assert not any(facts.values()), (facts, replies)
    sources = {line: r.to_json()["source"] for line, r in zip(LINES, records, strict=True)}
    by_model = [line for line, source in sources.items() if source == "generation"]
    assert len(by_model) >= 8, (replies, sources)  # the guard answered the rest with a template


@pytest.mark.parametrize("persona", [None, DATA / "persona_juniper.yaml"], ids=["robin", "juniper"])
def test_generated_small_talk_gives_the_persona_name(persona: Path | None) -> None:
    chosen = load_persona(persona)
    model = load_generator(GeneratorSpec(runtime="llama", seed=14))  # the module's model
    prompt = build_prompt("So what's your name, then?", "chitchat", {}, [], chosen)
    stream = SentenceStream(model, prompt, max_tokens=48, stop=STOP, temperature=0.0)
    first = stream.next_sentence()
    stream.close()
    assert first is not None and chosen.name in first, first
    assert ("Robin" if persona else "Juniper") not in first


def test_the_fact_guard_reads_numbers_dates_and_names() -> None:
    for sentence in (
        "I got up at 6:00 am.",
        "I'm twenty years old.",
        "My birthday is in March.",
        "I like the Beatles.",
        "I grew up near Berlin.",
    ):
        assert states_facts(sentence, ["Robin"]), sentence
    for sentence in (
        "I'm Robin, a voice assistant.",
        "I don't know, sorry.",
        "I'm sorry to hear that.",
        "I don't have favourites, but I'd like to hear yours.",
    ):
        assert not states_facts(sentence, ["Robin"]), sentence
    assert until_a_fact("I don't know. I like the Beatles. Do you?") == "I don't know."
