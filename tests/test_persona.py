"""One persona (assistant/policies/persona.yaml) is the single source for what the assistant
says about itself: the response templates, the language model's prompt, the tone's words and
the speech stage's voice. Another persona is one change (`--set persona=PATH`), checked through
`assistant chat` with a second persona file (tests/data/persona_juniper.yaml)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from assistant.config import BUILTIN_SKILLS_DIR, DEFAULT_MODELS, load_models, load_pipeline
from assistant.config import resolve_pipeline_path as pipeline_path
from assistant.core.errors import ConfigError, MissingModelError
from assistant.core.stage import StageContext
from assistant.dialogue.responses import ResponsePicker
from assistant.generation import build_prompt
from assistant.persona import DEFAULT_PERSONA, load_persona
from assistant.pipeline import plan_pipeline
from assistant.skills.loader import load_skills
from assistant.stages.tone.policy import DEFAULT_POLICY, load_policy
from assistant.stages.tts.espeak import EspeakParams, EspeakTTS
from assistant.stages.tts.piper import PiperParams, PiperTTS
from tests.chat import chat_run
from tests.conftest import DATA

JUNIPER = DATA / "persona_juniper.yaml"
SKILLS = load_skills((BUILTIN_SKILLS_DIR,))
ABOUT_ITSELF = ("utter_bot_challenge", "utter_ask_name", "utter_ask_creator")


def plan(pipeline: str = "text", **overrides: str) -> Any:
    path = pipeline_path(pipeline)
    return plan_pipeline(load_pipeline(path), path, load_models(), DEFAULT_MODELS, overrides)


def params(planned: Any, kind: str) -> Any:
    return next(stage.params for stage in planned.stages if stage.kind == kind)


def test_the_templates_about_the_assistant_are_filled_from_the_persona() -> None:
    for persona in (load_persona(), load_persona(JUNIPER)):
        picker = ResponsePicker(SKILLS.responses, seed=1, defaults=persona.template_values())
        for name in ABOUT_ITSELF:
            for _ in range(len(SKILLS.responses[name])):
                text = picker.choose("s", name)
                assert text is not None and "{" not in text, text
                assert persona.name in text or persona.maker in text, text
    # The words are the persona's only: no template names the assistant by itself.
    raw = " ".join(str(v) for name in ABOUT_ITSELF for v in SKILLS.responses[name])
    assert "Robin" not in raw and "Juniper" not in raw


def test_a_turns_own_value_wins_over_the_persona() -> None:
    picker = ResponsePicker(
        {"utter_x": ["I'm {assistant_name}."]}, defaults={"assistant_name": "A"}
    )
    assert picker.choose("s", "utter_x") == "I'm A."
    assert picker.choose("s", "utter_x", {"assistant_name": "B"}) == "I'm B."


def test_the_prompt_names_and_describes_the_persona() -> None:
    robin, juniper = load_persona(), load_persona(JUNIPER)
    prompt = build_prompt("hello", "chitchat", {}, [], juniper)
    assert prompt.startswith(f"The following is a conversation with Juniper, {juniper.description}")
    assert "Juniper is cheerful and brief" in prompt
    assert f"User: What's your name?\nAssistant: I'm Juniper, {juniper.description}." in prompt
    assert "Robin" not in prompt and "{" not in prompt
    assert "conversation with Robin" in build_prompt("hello", "chitchat", {}, [], robin)
    creator = build_prompt("who made you", "ask_creator", {}, [], juniper)
    assert f"I was made by {juniper.maker}." in creator


def test_the_tone_policy_takes_the_persona_words() -> None:
    policy = load_policy(DEFAULT_POLICY)
    juniper = load_persona(JUNIPER)
    assert policy.styles["warm"].acknowledge is not None
    assert policy.styles["warm"].acknowledge.words(juniper) == ["Splendid!", "Right away!"]
    assert policy.styles["calm"].acknowledge is not None
    assert policy.styles["calm"].acknowledge.words(load_persona()) == list(
        load_persona().style.phrases.sympathetic
    )


def test_the_plan_hands_one_persona_to_every_stage_that_speaks_as_the_assistant() -> None:
    shipped = plan("voice")
    for kind in ("respond", "tone", "tts"):
        assert params(shipped, kind).persona == DEFAULT_PERSONA
    assert params(shipped, "tts").voice_id == "joe"  # the persona's: models.yaml names none
    other = plan("voice", persona=str(JUNIPER), tts="espeak")
    for kind in ("respond", "tone", "tts"):
        assert params(other, kind).persona == JUNIPER
    assert params(other, "tts").voice_id == "en-gb-x-rp"


def test_a_pipeline_file_names_its_persona(tmp_path: Path) -> None:
    (tmp_path / "juniper.yaml").write_text(JUNIPER.read_text())
    text = pipeline_path("text").read_text()
    (tmp_path / "mine.yaml").write_text(text + "persona: juniper.yaml\n")
    planned = plan(str(tmp_path / "mine.yaml"))
    assert params(planned, "respond").persona == tmp_path / "juniper.yaml"


def test_a_bad_persona_is_one_line_naming_the_file_and_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(JUNIPER.read_text().replace("name: Juniper", "nmae: Juniper"))
    with pytest.raises(ConfigError, match=r"bad.yaml: nmae: unknown key") as raised:
        plan(persona=str(bad))
    assert "\n" not in str(raised.value)
    with pytest.raises(ConfigError, match=r"nowhere.yaml: cannot read the persona"):
        plan(persona=str(tmp_path / "nowhere.yaml"))


def test_the_speech_stage_speaks_with_the_persona_voice(tmp_path: Path) -> None:
    stage = EspeakTTS(
        name="tts", params=params(plan("voice", persona=str(JUNIPER), tts="espeak"), "tts"),
        context=StageContext(),
    )  # fmt: skip
    asyncio.run(stage.start())
    try:
        assert stage.synthesizer.voice == "en-gb-x-rp"
        assert any(s.pcm for s in stage.synthesizer.speak("Hello there."))
    finally:
        asyncio.run(stage.stop())
    # Piper gets the persona's voice too: a persona naming a voice that is not packaged says so.
    odd = tmp_path / "odd.yaml"
    odd.write_text(JUNIPER.read_text().replace("piper: joe", "piper: nobody"))
    piper = PiperTTS(name="tts", params=PiperParams(persona=odd), context=StageContext())
    with pytest.raises(MissingModelError, match=r"unknown piper voice 'nobody'"):
        asyncio.run(piper.start())
    # A voice the model names still wins over the persona's.
    assert EspeakParams(persona=JUNIPER, voice="en-us").voice_id == "en-us"


def chat(assistant_bin: str, lines: list[str], *args: str) -> list[dict[str, Any]]:
    return chat_run(assistant_bin, lines, "--set", "dst=tracker-memory", *args, timeout=600)[0]


QUESTIONS = [
    ("what's your name", "ask_name"),
    ("who made you", "ask_creator"),
    ("are you a robot", "bot_challenge"),
    ("what should i call you", "ask_name"),
]


@pytest.mark.parametrize("persona", [None, JUNIPER], ids=["shipped", "juniper"])
def test_chat_answers_who_it_is_from_the_persona(assistant_bin: str, persona: Path | None) -> None:
    args = ("--set", f"persona={persona}") if persona else ()
    turns = chat(assistant_bin, [q for q, _ in QUESTIONS], *args)
    me = load_persona(persona)
    other = "Robin" if persona else "Juniper"
    assert [t["intent"]["name"] for t in turns] == [intent for _, intent in QUESTIONS]
    for turn in turns:
        text = turn["text"]
        assert turn["source"] == "template" and not turn["errors"], turn
        assert other not in text and "{" not in text, text
        if turn["intent"]["name"] == "ask_creator":
            assert text.endswith(f"made by {me.maker}."), text
        else:
            assert re.search(rf"\b{me.name}\b", text), text
