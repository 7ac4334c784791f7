"""Small talk answered by a language model through the whole text pipeline (`assistant chat`):
the shipped Gemma by default, and a user's own transformers model plugged in through the catalog
(a tiny random one the test builds: it checks the wiring, not the words).

The reply goes out sentence by sentence as the model writes it: checked with a deterministic
stand-in for the model (when each sentence leaves the chain), and end to end with Gemma and a
speech stage (speech starts before the model is done)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import assistant.stages.respond.generation as generation_module
from assistant.config import BUILTIN_SKILLS_DIR, load_models, load_pipeline
from assistant.core.runner import Pipeline
from assistant.core.stage import StageContext
from assistant.dialogue.events import ActionExecuted, BotUttered, UserUttered
from assistant.generation import Generator, GeneratorSpec
from assistant.generation.llm import FinishReason
from assistant.messages import (
    DialogueState,
    DialogueUpdate,
    IntentScore,
    Message,
    Parse,
    Reply,
    Said,
    SpeechChunk,
)
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession, TurnRecord
from assistant.skills.loader import load_skills
from assistant.stages.respond.chain import ChainParams, ChainResponder
from tests.conftest import ROOT
from tests.test_generation import build_tiny_lm

RESPONSES = load_skills((BUILTIN_SKILLS_DIR,)).responses


def chat_json(assistant_bin: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [assistant_bin, "chat", "--set", "dst=tracker-memory", "--json", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    data: dict[str, Any] = json.loads(line)
    return data


def test_small_talk_goes_to_gemma(assistant_bin: str) -> None:
    turn = chat_json(assistant_bin, "--once", "how was your weekend")
    assert turn["intent"]["name"] == "chitchat"
    assert turn["source"] == "generation"
    text = str(turn["text"])
    assert 2 <= len(text.split()) <= 60, text  # capped for speech
    assert not turn["errors"]


def test_a_transformers_model_from_the_catalog_answers_small_talk(
    assistant_bin: str, tmp_path: Path
) -> None:
    # Random weights say random things. With only words to say (no newline, no "User:") and an
    # end-of-text token, what it says before it stops is a reply the chain can use.
    model = build_tiny_lm(tmp_path / "lm", ["Fine good nice day yes sure"] * 5, can_end=True)
    catalog = tmp_path / "models.yaml"
    catalog.write_text(
        "extends: default\n"
        "respond:\n"
        "  my-model:\n"
        "    backend: chain\n"
        "    params:\n"
        f"      generation: {{runtime: transformers, model_path: {model}, "
        "max_tokens: 40, seed: 0}\n"
    )
    turn = chat_json(
        assistant_bin, "--models", str(catalog), "--set", "respond=my-model",
        "--once", "how was your weekend",
    )  # fmt: skip
    assert turn["source"] == "generation"
    assert str(turn["text"]).strip()  # random weights: some words, never an empty reply
    assert not turn["errors"]


# --- the reply in pieces, as the model writes it ---------------------------------------------


class GatedGenerator:
    """A deterministic stand-in for the model (the `Generator` protocol): writes `first`, waits
    until `gate` is set, then writes `rest`. The chain's one-token warm-up call is not gated."""

    name = "gated"

    def __init__(self, first: str, rest: str = "", *, finish: FinishReason = "stop") -> None:
        self.first, self.rest, self.finish = first, rest, finish
        self.finish_reason: FinishReason | None = None
        self.tokens_generated = 0
        self.gate = threading.Event()
        self.closed = threading.Event()  # the chain closed the stream before it ended
        self.prompts: list[str] = []

    def generate(
        self, prompt: str, *, max_tokens: int, stop: Sequence[str], temperature: float
    ) -> Iterator[str]:
        if max_tokens == 1:  # the warm-up at load
            yield "Hi"
            return
        self.prompts.append(prompt)
        self.finish_reason = "length"
        try:
            yield self.first
            assert self.gate.wait(10), "the test never released the generator"
            if self.rest:
                yield self.rest
        except GeneratorExit:
            self.closed.set()
            raise
        self.finish_reason = self.finish


def chitchat(text: str = "how was your weekend", turn: int = 1) -> DialogueState:
    parse = Parse(
        session_id="s", turn_id=turn, text=text, intent=IntentScore(name="chitchat", confidence=1)
    )
    return DialogueState(
        session_id="s",
        turn_id=turn,
        parse=parse,
        events=(UserUttered(text=text, intent="chitchat"),),
    )


def chain_with(
    generator: Generator, monkeypatch: pytest.MonkeyPatch, **params: object
) -> ChainResponder:
    monkeypatch.setattr(generation_module, "load_generator", lambda spec: generator)
    stage = ChainResponder(
        name="respond",
        params=ChainParams.model_validate({"seed": 0, **params}),
        context=StageContext(skill_dirs=(BUILTIN_SKILLS_DIR,)),
    )
    stage.load()
    return stage


async def first_and_rest(
    stage: ChainResponder, state: DialogueState, generator: GatedGenerator
) -> tuple[Message, bool, list[Message]]:
    """The stage's first output, whether the generator was still held back when it came, and
    the rest once the generator is released."""
    outputs = stage.process(state)
    first = await asyncio.wait_for(anext(outputs), 10)
    held_back = not generator.gate.is_set()
    generator.gate.set()
    return first, held_back, [output async for output in outputs]


def test_generated_reply_streams_sentence_by_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = GatedGenerator("Hello there. ", "How are you? I am fine. Anything else?")
    stage = chain_with(generator, monkeypatch)
    first, held_back, rest = asyncio.run(first_and_rest(stage, chitchat(), generator))
    # The first sentence is out while the model is still held before its second one.
    assert held_back
    assert isinstance(first, Reply)
    assert (first.text, first.part, first.more, first.source) == (
        "Hello there.", 0, True, "generation",
    )  # fmt: skip
    update, last = rest
    assert isinstance(update, DialogueUpdate) and isinstance(last, Reply)
    assert update.events == (
        ActionExecuted(name="action_generate"),
        BotUttered(text="Hello there. How are you?"),  # everything said, nothing more
    )
    # Two sentences at most (the speech cap): the second is the last piece, and the model is
    # stopped there rather than left writing sentences nobody will hear.
    assert (last.text, last.part, last.more) == ("How are you?", 1, False)
    assert last.intent == "chitchat" and last.source == "generation"
    assert generator.closed.is_set()


def test_the_last_piece_is_empty_when_the_end_comes_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The token limit cuts the second sentence: it is dropped, as for a whole reply, and the
    # reply ends with an empty piece.
    generator = GatedGenerator("Hello there. ", "The sound of the rain on", finish="length")
    stage = chain_with(generator, monkeypatch)
    first, held_back, rest = asyncio.run(first_and_rest(stage, chitchat(), generator))
    assert held_back and isinstance(first, Reply) and first.more
    update, last = rest
    assert isinstance(update, DialogueUpdate) and isinstance(last, Reply)
    assert update.events[-1] == BotUttered(text="Hello there.")
    assert (last.text, last.part, last.more) == ("", 1, False)


def test_sentence_cap_holds_while_streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    # Words, not numbers: small talk stating a number would end there (generation.facts).
    generator = GatedGenerator("Yes. ", "Sure. Fine. Good.")
    stage = chain_with(generator, monkeypatch)
    first, _, rest = asyncio.run(first_and_rest(stage, chitchat(), generator))
    replies = [m for m in (first, *rest) if isinstance(m, Reply)]
    assert [(r.text, r.part, r.more) for r in replies] == [("Yes.", 0, True), ("Sure.", 1, False)]


def test_nothing_speakable_falls_back_to_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = GatedGenerator("(Smiles.)")
    generator.gate.set()
    stage = chain_with(generator, monkeypatch)

    async def run() -> list[Message]:
        return [output async for output in stage.process(chitchat())]

    update, reply = asyncio.run(run())
    assert isinstance(update, DialogueUpdate) and isinstance(reply, Reply)
    assert ActionExecuted(name="action_generate") not in update.events
    assert reply.source == "template" and (reply.part, reply.more) == (0, False)
    assert reply.text in RESPONSES["utter_chitchat"]


def test_replies_not_written_by_the_model_are_one_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = GatedGenerator("Hello there. ", "How are you?")
    generator.gate.set()
    stage = chain_with(generator, monkeypatch, stream_generation=False)

    async def run(state: DialogueState) -> list[Message]:
        return [output async for output in stage.process(state)]

    update, reply = asyncio.run(run(chitchat()))
    assert isinstance(update, DialogueUpdate) and isinstance(reply, Reply)
    assert (reply.text, reply.part, reply.more) == ("Hello there. How are you?", 0, False)
    greet = replace(chitchat("hello"), parse=replace(chitchat("hello").parse, intent=IntentScore(
        name="greet", confidence=1)))  # fmt: skip
    update, reply = asyncio.run(run(greet))
    assert isinstance(reply, Reply) and reply.source == "template"
    assert (reply.part, reply.more) == (0, False)


def test_a_turn_that_ends_early_stops_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = GatedGenerator("Hello there. ", "How are you?")
    stage = chain_with(generator, monkeypatch)

    async def interrupted() -> Message:
        outputs = stage.process(chitchat())
        first = await anext(outputs)
        await outputs.aclose()  # what cancelling the stage's work does to it
        return first

    first = asyncio.run(interrupted())
    assert isinstance(first, Reply) and first.more
    assert generator.closed.wait(5)  # closed on the stage's thread, so the model is free
    assert generator.prompts and "how was your weekend" in generator.prompts[0]


@pytest.mark.slow
def test_gemma_speaks_its_first_sentence_before_it_is_done(tmp_path: Path) -> None:
    """Gemma through nlu, dialogue, chain, tone, filter and speech: the reply leaves the chain
    in pieces, the record joins them into the reply, and audio exists before the chain's last
    piece does."""
    (tmp_path / "models.yaml").write_text(
        "extends: default\n"
        "respond:\n"
        "  seeded:\n"
        "    backend: chain\n"
        "    params:\n"
        "      generation: {runtime: llama, max_tokens: 48, temperature: 0.0, seed: 7}\n"
    )
    (tmp_path / "speak.yaml").write_text(
        "input: text\nskills: [builtin]\nstages:\n"
        "  - {kind: nlu, model: intent-minilm}\n  - {kind: dst, model: tracker-memory}\n"
        "  - {kind: respond, model: seeded}\n  - {kind: tone, model: policy}\n"
        "  - {kind: filter, model: safety}\n  - {kind: tts, model: espeak}\n"
    )
    plan = plan_pipeline(
        load_pipeline(tmp_path / "speak.yaml"), tmp_path / "speak.yaml",
        load_models(tmp_path / "models.yaml"), tmp_path / "models.yaml",
    )  # fmt: skip
    seen: list[tuple[str, Message]] = []

    async def scenario() -> TurnRecord:
        async with Pipeline(plan) as pipeline:
            pipeline.bus.observe(lambda message, sender: seen.append((sender, message)))
            session = TextSession(pipeline, turn_timeout=300)
            await session.begin()
            # Greedy, as shipped; a line Gemma answers in two sentences.
            return await session.say("can we chat for a little while")

    record = asyncio.run(scenario())
    assert not record.errors
    reply = record.reply
    assert reply is not None and reply.source == "generation"
    from_chain = [m for s, m in seen if s == "respond" and isinstance(m, Reply)]
    assert len(from_chain) >= 2, from_chain  # sent in pieces
    assert [r.part for r in from_chain] == list(range(len(from_chain)))
    assert [r.more for r in from_chain] == [True] * (len(from_chain) - 1) + [False]
    pieces = record.of(Said, "filter")  # the pieces that left the pipeline
    assert len(pieces) == len(from_chain)
    assert " ".join(p.text for p in pieces if p.text) == reply.text == record.text
    assert reply.tone is not None and reply.tone.style == "neutral"
    chunks = [m for s, m in seen if s == "tts" and isinstance(m, SpeechChunk)]
    assert " ".join(c.text for c in chunks if c.text) == reply.text
    assert chunks[-1].final and not any(c.final for c in chunks[:-1])
    # Speech began while the model was still writing: the first audio is not later than the
    # chain's last piece.
    assert chunks[0].timestamp <= from_chain[-1].timestamp
    assert record.to_json()["text"] == reply.text


@pytest.mark.parametrize(
    ("spec", "preloads"),
    [
        ({}, False),  # Gemma on llama.cpp: ready in about a second, 350 MB to hold
        ({"preload": True}, True),
        ({"runtime": "transformers", "model_path": "/models/lm"}, True),  # seconds to load
        ({"runtime": "transformers", "model_path": "/models/lm", "preload": False}, False),
    ],
)
def test_an_interactive_session_preloads_only_a_slow_language_model(
    monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any], preloads: bool
) -> None:
    loads: list[GeneratorSpec] = []
    monkeypatch.setattr(generation_module, "load_generator", lambda s: loads.append(s) or s)

    async def run_blocking(fn: Any, *args: Any) -> Any:
        return fn(*args)

    generation = generation_module.Generation(
        GeneratorSpec.model_validate(spec),
        frozenset({"chitchat"}),
        stream=False,
        run_blocking=run_blocking,
    )
    generation.prefetch()
    asyncio.run(generation.settle())  # waits for a load that began; begins none
    assert len(loads) == int(preloads)
