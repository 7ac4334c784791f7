"""What Whisper is primed with: the prompt built from the skills' examples (no model loaded)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from assistant.speech.priming import build_prompt, choose_examples, sentence
from assistant.stages.asr.vocabulary import prompt_text, skills_prompt
from assistant.stages.asr.whisper_ct2 import FasterWhisperParams
from benchmarks.audio_set import HELDOUT_TEXTS

EXAMPLES = {
    "calculate": ["what is 17 times 23", "what's 144 divided by 12", "what is 17 times 23 please"],
    "chitchat": ["how are you"],
    "set_timer": [
        "set a timer for ten minutes",
        "set a timer for 5 minutes",
        "timer for 45 seconds",
    ],
    "greet": ["hello", "hi"],
}


def test_an_example_is_written_as_a_transcript_would_be() -> None:
    assert sentence("what is 17 times 23") == "What is 17 times 23?"
    assert sentence("add oat milk to my list.") == "Add oat milk to my list."
    assert sentence("  never   mind ") == "Never mind."
    assert sentence(" ") == ""


def test_examples_come_intent_by_intent_first_ones_first_within_the_word_budget() -> None:
    skip = frozenset({"chitchat"})
    chosen = choose_examples(EXAMPLES, max_words=100, first=["set_timer"], skip=skip)
    # set_timer first; chitchat is skipped (open-ended); an example adding no new word
    # ("set a timer for 5 minutes" adds "5": kept; "...17 times 23 please" adds "please").
    assert chosen[:3] == ["set a timer for ten minutes", "what is 17 times 23", "hello"]
    assert "how are you" not in chosen
    assert len(chosen) == len(set(chosen))
    small = choose_examples(EXAMPLES, max_words=10, first=["set_timer"], skip=skip)
    assert small == ["set a timer for ten minutes"]  # the next (5 words) would pass 10


def test_terms_fill_what_the_examples_leave_of_the_budget() -> None:
    prompt = build_prompt({"greet": ["hello"]}, max_words=4, terms=["celsius", "cup", "inch", "x"])
    assert prompt == "Hello. Celsius, cup, inch."


def test_the_skills_prompt_names_the_commands_and_stays_short() -> None:
    prompt = skills_prompt((), 60)
    assert len(prompt.split()) <= 60
    for phrase in ("Add ", "Set a timer", "times", "shopping list"):
        assert phrase in prompt
    assert skills_prompt((), 60) is prompt  # built once per skill folders and budget
    # What a user tells about themselves is no vocabulary: it took the commands' place once, and
    # eSpeak's "add" became "and" and "twelve times nine" "well designed" again.
    for told in ("Sam", "metric", "Remember", "birthday"):
        assert told not in prompt


def test_no_held_out_benchmark_request_is_in_the_prompt() -> None:
    """The held-out part of benchmarks/asr.py must stay unseen by what primes Whisper."""
    prompt = " ".join(re.findall(r"[a-z0-9']+", skills_prompt((), 150).lower()))
    for text in HELDOUT_TEXTS:
        assert " ".join(re.findall(r"[a-z0-9']+", text.lower())) not in prompt


def test_the_prompt_param_is_skills_none_or_text(tmp_path: Path) -> None:
    assert prompt_text("none", 60, ()) is None
    assert prompt_text("None ", 60, ()) is None
    assert prompt_text("Oat milk. Quinoa.", 60, ()) == "Oat milk. Quinoa."
    assert prompt_text("skills", 60, ()) == skills_prompt((), 60)
    assert FasterWhisperParams().prompt == "skills"
    with pytest.raises(ValidationError):
        FasterWhisperParams(prompt_words=500)  # Whisper keeps 223 prompt tokens at most


def test_a_users_skill_words_reach_the_prompt(tmp_path: Path) -> None:
    skill = tmp_path / "garden"
    skill.mkdir()
    (skill / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: water_plants\n  examples: |\n'
        "    - water the [tomatoes](plant) please\n    - water my [basil](plant)\n"
    )
    prompt = prompt_text("skills", 60, (skill,))
    assert prompt == "Water the tomatoes please. Water my basil."
