"""Honest about what it does not know: general-knowledge questions (history, geography, sports,
science) with no skill or document to answer them, asked through `assistant chat`. Written for
this test, never trained on (the skills' `ask_fact` examples are other questions)."""

from __future__ import annotations

from pathlib import Path

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.skills.loader import load_skills
from tests.chat import chat

ROOT = Path(__file__).resolve().parents[1]
RESPONSES = load_skills((BUILTIN_SKILLS_DIR,)).responses
QUESTIONS = [
    "who won the 1998 world cup",
    "how tall is the eiffel tower",
    "when did the berlin wall fall",
    "what is the capital of australia",
    "who discovered gravity",
    "how many continents are there",
    "what's the highest waterfall in the world",
    "who painted the sistine chapel ceiling",
    "when did world war one start",
    "what is the largest planet",
    "how fast does sound travel",
    "which team has won the most super bowls",
    "who holds the record for the 100 metres",
    "what is the atomic weight of oxygen",
    "how old is the universe",
    "where is mount kilimanjaro",
    "who was napoleon",
    "when was the first olympic games",
    "what gas do plants breathe in",
    "how many strings does a violin have",
]


def test_factual_questions_get_i_dont_know_and_never_a_made_up_answer(assistant_bin: str) -> None:
    turns = chat(assistant_bin, QUESTIONS, "--set", "dst=tracker-memory", timeout=600)
    assert len(turns) == len(QUESTIONS)
    honest = RESPONSES["utter_ask_knowledge_unknown"]
    # No answer is written by the language model (it would make one up).
    assert [t["input"] for t in turns if t["source"] == "generation"] == []
    # The tone stage may put a few words before it ("I understand."): the words are the same.
    unknown = [t for t in turns if any(t["text"].endswith(h) for h in honest)]
    others = [(t["input"], t["text"]) for t in turns if t not in unknown]
    assert len(unknown) >= 18, others  # measured 19 of 20; the rest is a capability message
