"""What the asr stages prime Whisper with: the words of the loaded skills, gathered here as plain
strings for `assistant.speech.priming` (the engine side knows no skills).

A stage started on its own (`assistant transcribe`, the benchmarks) has no skill folders in its
context: it is primed with the built-in skills, what the assistant understands out of the box.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.skills.loader import load_skills
from assistant.speech.priming import build_prompt

SKILLS = "skills"
NONE = "none"
# Open-ended intents: their words, or their values (a name, a fact to remember), are no
# vocabulary. With the memory skill's examples in it, the prompt lost the commands' words and
# eSpeak's "add" was heard as "and" again: priming is that sensitive to its words.
OPEN_ENDED_INTENTS = frozenset(
    {
        "out_of_scope", "ask_fact", "ask_knowledge", "chitchat", "correction",
        "tell_name", "set_units", "remember", "forget_that",
    }
)  # fmt: skip


@cache
def skills_prompt(skill_dirs: tuple[Path, ...], max_words: int) -> str:
    """The prompt of these skill folders: intent examples, those of intents with values (numbers,
    durations, items, units) first; and the canonical values of entity synonyms (units)."""
    skills = load_skills(skill_dirs or (BUILTIN_SKILLS_DIR,))
    examples: dict[str, list[str]] = {}
    with_values: list[str] = []
    for example in skills.examples:
        examples.setdefault(example.intent, []).append(example.text)
        if example.entities and example.intent not in with_values:
            with_values.append(example.intent)
    terms = sorted({value for skill in skills.skills for value in skill.synonyms.values()})
    return build_prompt(
        examples, max_words=max_words, first=with_values, skip=OPEN_ENDED_INTENTS, terms=terms
    )


def prompt_text(prompt: str, max_words: int, skill_dirs: tuple[Path, ...]) -> str | None:
    """The `prompt` param made text: `skills` (of these skill folders), `none` (None), or a
    literal prompt."""
    if prompt.strip().lower() == NONE or not prompt.strip():
        return None
    if prompt.strip().lower() == SKILLS:
        return skills_prompt(skill_dirs, max_words) or None
    return prompt.strip()
