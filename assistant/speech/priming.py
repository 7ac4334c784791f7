"""The text Whisper is primed with (`initial_prompt`), built from what the assistant understands.

Whisper reads its prompt as the transcript of what came before, so words in it become likelier:
with the skills' own requests in the prompt, a clipped "add" stops being "and" and "twelve"
stops being "well". The prompt is made of plain strings (the stage gathers them from the loaded
skills), and is short and stable: the same for every utterance, a few dozen words (Whisper keeps
at most 223 prompt tokens, and every prompt token costs decoding time).

How examples are chosen: intents in the given order (the ones whose requests carry values such
as numbers, durations and items first), round by round, each intent giving its next example in
the skill's own order (the first ones are the plainest: "set a timer for ten minutes") that adds
a word not in the prompt yet, until `max_words`. Intents named in `skip` are left out: the
caller's open-ended ones, whose words are no vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_QUESTION = re.compile(
    r"^(what|what's|whats|how|when|where|who|which|why|is|are|can|could|do|does|will|would)\b"
)
_WORD = re.compile(r"[a-z0-9']+")


def sentence(text: str) -> str:
    """An example as a transcript would write it: 'what is 17 times 23' -> 'What is 17 times 23?'"""
    text = " ".join(text.split()).rstrip(" .?!")
    if not text:
        return ""
    end = "?" if _QUESTION.match(text.lower()) else "."
    return text[0].upper() + text[1:] + end


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def choose_examples(
    examples: Mapping[str, Sequence[str]],
    *,
    max_words: int = 60,
    first: Sequence[str] = (),
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """Examples (intent -> its example texts) that cover the most vocabulary in `max_words`;
    intents named in `first` come first, the rest in their given order."""
    intents = [i for i in dict.fromkeys([*first, *examples]) if i in examples and i not in skip]
    left = {i: list(dict.fromkeys(t for t in examples[i] if t.strip())) for i in intents}
    chosen: list[str] = []
    seen: set[str] = set()
    count = 0
    while any(left.values()):
        for intent in intents:
            if not left[intent]:
                continue
            best = next((t for t in left[intent] if _words(t) - seen), None)
            if best is None:
                left[intent].clear()
                continue
            del left[intent][: left[intent].index(best) + 1]
            size = len(best.split())
            if count + size > max_words:
                return chosen
            chosen.append(best)
            seen |= _words(best)
            count += size
    return chosen


def build_prompt(
    examples: Mapping[str, Sequence[str]],
    *,
    max_words: int = 60,
    first: Sequence[str] = (),
    skip: frozenset[str] = frozenset(),
    terms: Sequence[str] = (),
) -> str:
    """The prompt: the chosen examples as sentences, then `terms` (item names, units: words the
    assistant knows by name) as a list, within `max_words` in all."""
    chosen = choose_examples(examples, max_words=max_words, first=first, skip=skip)
    text = " ".join(sentence(t) for t in chosen)
    room = max_words - sum(len(t.split()) for t in chosen)
    extra: list[str] = []
    for term in dict.fromkeys(t.strip() for t in terms if t.strip()):
        room -= len(term.split())
        if room < 0:
            break
        extra.append(term)
    if extra:
        text = f"{text} {sentence(', '.join(extra))}".strip()
    return text
