"""Does a generated sentence state a fact? Small talk must not: a 270M model asked "what did you
get up to today" or "who's your favourite singer" may answer "I got up at 6:00 am." or "I like
the Beatles.", however its prompt's examples answer such questions.

The check looks for what facts are made of: a number (digits or a number word above one), a
date (a month or a weekday), or a name (a capitalised word inside the sentence, other than "I"
and the names allowed: the assistant's own). It is deliberately strict: a sentence it flags is
dropped and the assistant says less, never something made up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.text.sentences import split_sentences


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NUMBER_WORDS = _words(
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred hundreds thousand thousands million millions billion billions dozen "
    "dozens first second third fourth fifth tenth hundredth"
)
# "May" and "second" also have other senses: "May" counts only capitalised inside a sentence (a
# name, below), "second" is kept as a number: "wait a second" is rare in small talk.
DATE_WORDS = _words(
    "january february march april june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_I_FORMS = frozenset({"I", "I'm", "I've", "I'd", "I'll", "I’m", "I’ve", "I’d", "I’ll"})


def states_facts(sentence: str, allowed_names: Iterable[str] = ()) -> bool:
    """True when `sentence` (one sentence) has a number, a date or a name in it."""
    if any(char.isdigit() for char in sentence):
        return True
    words = _WORD.findall(sentence)
    if any(word.lower() in NUMBER_WORDS or word.lower() in DATE_WORDS for word in words):
        return True
    allowed = {name.lower() for name in allowed_names}
    return any(
        word[0].isupper() and word not in _I_FORMS and word.lower() not in allowed
        for word in words[1:]  # the first word is capitalised as the sentence's start
    )


def until_a_fact(text: str, allowed_names: Iterable[str] = ()) -> str:
    """`text` up to its first sentence that states a fact ("" if the first one does)."""
    allowed = tuple(allowed_names)
    kept: list[str] = []
    for sentence in split_sentences(text):
        if states_facts(sentence, allowed):
            break
        kept.append(sentence)
    return " ".join(kept)
