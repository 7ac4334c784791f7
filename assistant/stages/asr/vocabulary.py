"""What the asr stages prime Whisper with, and rescore its N best transcripts with: the words of
the loaded skills, gathered here as plain strings for `assistant.speech.priming` and
`assistant.speech.lm` (the engine side knows no skills).

A stage started on its own (`assistant transcribe`, the benchmarks) has no skill folders in its
context: it is primed with the built-in skills, what the assistant understands out of the box.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.skills.loader import SkillSet, load_skills
from assistant.speech.lm import WordLM
from assistant.speech.priming import build_prompt
from assistant.speech.rescore import Rescorer

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
    skills = _skills(skill_dirs)
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


VARIANTS = 5  # how many times an example with a listed value is said again with other values


def lm_sentences(skills: SkillSet) -> list[str]:
    """What the rescoring language model learns from: every intent's examples (open-ended ones
    too: their frame words, "remember that", "my name is", keep such speech likely), each
    example with a value a lookup table lists said again with other values of that table (so
    that every known item and unit is seen inside a request, not only alone), and the tables'
    values and synonyms themselves."""
    lookups, examples = skills.lookups, skills.examples  # properties that merge every skill's
    table_of = {v.lower(): name for name, values in lookups.items() for v in values}
    turn = dict.fromkeys(lookups, 0)  # round-robin: every value gets its turn
    sentences = [example.text for example in examples]
    for example in examples:
        spans = sorted(
            (s for s in example.entities if example.text[s.start : s.end].lower() in table_of),
            key=lambda s: s.start,
        )
        for _ in range(VARIANTS if spans else 0):
            text, last = [], 0
            for span in spans:
                table = table_of[example.text[span.start : span.end].lower()]
                values = lookups[table]
                text += [example.text[last : span.start], values[turn[table] % len(values)]]
                turn[table] += 1
                last = span.end
            sentences.append("".join([*text, example.text[last:]]))
    sentences += [v for values in lookups.values() for v in values]
    sentences += [*skills.synonyms, *skills.synonyms.values()]
    return sentences


@cache
def skills_lm(skill_dirs: tuple[Path, ...]) -> WordLM:
    """The language model of these skill folders (built once: some 60 ms)."""
    return WordLM(lm_sentences(_skills(skill_dirs)))


def rescorer_of(rescore: str, lm_weight: float, skill_dirs: tuple[Path, ...]) -> Rescorer | None:
    """The `rescore` and `lm_weight` params made a rescorer: `skills` rescores with the
    language model of these skill folders (the built-in skills when empty); `none` or a weight
    of 0 keep Whisper's own best transcript (None)."""
    if rescore.strip().lower() == NONE or lm_weight == 0:
        return None
    return Rescorer(skills_lm(skill_dirs), lm_weight)


@cache
def _skills(skill_dirs: tuple[Path, ...]) -> SkillSet:
    """Loaded once for the prompt and the language model."""
    return load_skills(skill_dirs or (BUILTIN_SKILLS_DIR,))
