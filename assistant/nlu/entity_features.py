"""Token features for the entity CRF, as Rasa's CRFEntityExtractor computes them.

Each token is described by its word (lowercased, with its first and last three letters), its
title case and shape, whether it is digits, a number word or a time unit, and which lookup
table (and where in the listed phrase: B, I, L or U), regex or system entity
(`assistant.nlu.numbers`) covers it; its neighbours' descriptions
are added one token either side, and their words and number/time-unit marks two tokens either
side. The marks are what let the patterns of nlu.yml help entities they do not list word for
word. Training can mask the words of some tokens and the lookup matches, to teach the CRF the
context of a value it has never seen (`assistant.nlu.entity_training`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from assistant.nlu.numbers import (
    NUMBER_WORDS,
    TIME_UNIT_WORDS,
    Number,
    Token,
    find_durations,
    find_numbers,
    tokenize,
)

# Part of the key the trained CRF is cached under: bump it when the features change, or a
# start would open a CRF trained on other features.
FEATURES_VERSION = 2

Features = dict[str, str | float]
# What the number rules found in a sentence: (durations, numbers), each [(start, end, value)].
SystemSpans = tuple[list[tuple[int, int, float]], list[tuple[int, int, Number]]]


def system_spans(text: str) -> SystemSpans:
    return find_durations(text), find_numbers(text)


def sequence_features(
    text: str,
    regexes: Mapping[str, Sequence[re.Pattern[str]]],
    lookups: Mapping[str, re.Pattern[str]],
    unseen: frozenset[int] = frozenset(),
    system: SystemSpans | None = None,
) -> tuple[list[Token], list[Features]]:
    """The tokens of `text` and their features. The words of the tokens in `unseen` are left
    out; so are lookup matches if `lookups` is empty. `system` saves finding the number rules'
    spans again when the caller has them."""
    tokens = tokenize(text)
    marks = _marks(text, tokens, regexes, lookups, system or system_spans(text))
    local = [_token_features(t, m) for t, m in zip(tokens, marks, strict=True)]
    return tokens, [_features_at(i, tokens, local, unseen) for i in range(len(tokens))]


def _marks(
    text: str,
    tokens: list[Token],
    regexes: Mapping[str, Sequence[re.Pattern[str]]],
    lookups: Mapping[str, re.Pattern[str]],
    system: SystemSpans,
) -> list[list[str]]:
    """For each token, the lookups, regexes and system entities whose matches overlap it."""
    marks: list[list[str]] = [[] for _ in tokens]

    def mark(name: str, start: int, end: int, *, position: bool = False) -> None:
        inside = [i for i, token in enumerate(tokens) if token.start < end and token.end > start]
        for n, i in enumerate(inside):
            marks[i].append(name)
            if position:
                marks[i].append(f"{name}:{_position(n, len(inside))}")

    for name, pattern in lookups.items():
        for match in pattern.finditer(text):
            # Where in the listed phrase the token is: the phrase's edges are likely the
            # entity's ("[lemons] anymore", "washing up [liquid]" is one "washing up liquid").
            mark(f"lookup:{name}", *match.span(), position=True)
    for name, patterns in regexes.items():
        for regex in patterns:
            for match in regex.finditer(text):
                if match.end() > match.start():
                    mark(f"regex:{name}", *match.span())
    durations, numbers = system
    for start, end, _ in durations:
        mark("sys:duration", start, end)
    for start, end, _ in numbers:
        mark("sys:number", start, end)
    return marks


def _features_at(
    i: int, tokens: list[Token], local: list[Features], unseen: frozenset[int]
) -> Features:
    """Token `i`'s own features, then those of its neighbours."""
    token = tokens[i]
    feats: Features = {"bias": 1.0, "title": float(token.text.istitle()), **local[i]}
    if i not in unseen:
        word = token.lower
        feats.update(word=word, prefix3=word[:3], suffix3=word[-3:])
    for offset in (-2, -1, 1, 2):
        j = i + offset
        if 0 <= j < len(tokens):
            near = local[j]
            if j not in unseen:
                feats[f"{offset}:word"] = tokens[j].lower
            if abs(offset) == 1:
                feats.update({f"{offset}:{k}": v for k, v in near.items()})
            else:
                for key in ("numword", "timeunit"):
                    if key in near:
                        feats[f"{offset}:{key}"] = near[key]
        else:
            feats[f"{offset}:edge"] = 1.0  # before the start / past the end
    return feats


def _token_features(token: Token, marks: list[str]) -> Features:
    word = token.lower
    feats: Features = {"shape": _shape(token.text)}
    if token.text.lstrip("-").replace(",", "").replace(".", "").isdigit():
        feats["digit"] = 1.0
    if word in NUMBER_WORDS:
        feats["numword"] = 1.0
    if word in TIME_UNIT_WORDS:
        feats["timeunit"] = 1.0
    for name in marks:
        feats[name] = 1.0
    return feats


def _position(n: int, length: int) -> str:
    """The BILOU position of the n-th of `length` tokens."""
    if length == 1:
        return "U"
    return "B" if n == 0 else "L" if n == length - 1 else "I"


def _shape(word: str) -> str:
    """Xxxx -> Xx, 1,000 -> d,d: character classes with runs collapsed."""
    out: list[str] = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.isalpha() else "d" if char.isdigit() else char
        if not out or out[-1] != kind:
            out.append(kind)
    return "".join(out)
