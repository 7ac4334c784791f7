"""Which entries of the shopping list a removal means: "remove the eggs", "take the milk off",
"cross off the tomatos".

The items the NLU named are matched against the list, best first: the same words ("the eggs" is
"Eggs": case, articles, quantities and plurals aside), the same words spelt nearly alike
("tomatos", "brocoli"), then an entry that holds the words said or is held in them ("milk" is
"oat milk" when it is the only milk). When the NLU named nothing, or something that is not on
the list ("lemons anymore"), the entries are looked for in the words of the request itself.
Several entries that fit equally well ("milk" with "oat milk" and "soy milk" on the list) are
ambiguous: the caller asks which one.

Plain functions of strings, no dialogue: the shopping actions, the dialogue's references and the
NLU benchmark use them alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words before an item that are not part of it: "the eggs", "some of the bananas".
_DETERMINERS = _set("the a an some any my our your all of more that this those these")
_QUANTITIES = _set(
    "one two three four five six seven eight nine ten eleven twelve dozen half few couple"
)
# Words of the request around the item: never an item's near spelling ("take" is not "cake").
_COMMAND_WORDS = _set(
    """remove delete take off cross scratch strike drop ditch skip forget get rid list
    shopping grocery please from on it them now anymore already need don't dont have bought
    got and also too with out can you could i we just the a an some my our that this those
    these one ones thing things"""
)
_BOTH = re.compile(r"\b(both|all( of)?( them)?|each|every one|either)\b", re.IGNORECASE)
_ORDINALS = {"first": 0, "second": 1, "third": 2, "last": -1}
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
NEAR = 0.84  # how alike two spellings must be (difflib ratio of the singular forms)


@dataclass(frozen=True, slots=True)
class Removal:
    """What a removal resolved to: entries of the list (as they are written there), the items
    said that are on it under no near name, and for each ambiguous item the entries it may be."""

    found: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    ambiguous: tuple[tuple[str, tuple[str, ...]], ...] = ()


def singular(word: str) -> str:
    """The comparison form of a word: "tomatoes", "tomatos" -> "tomato", "cherries" -> "cherry"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("oes", "ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def words(phrase: str) -> tuple[str, ...]:
    """The item's words in comparison form, without the determiners and counts before it:
    "the two Lemons" -> ("lemon",)."""
    found = _WORD.findall(phrase.lower())
    start = 0
    while start < len(found) - 1 and (
        found[start] in _DETERMINERS or found[start] in _QUANTITIES or found[start].isdigit()
    ):
        start += 1
    return tuple(singular(w) for w in found[start:])


def alike(a: str, b: str) -> bool:
    """The same word, or one spelt nearly so (only words of four letters or more)."""
    if a == b:
        return True
    if min(len(a), len(b)) < 4:
        return False
    return SequenceMatcher(None, a, b).ratio() >= NEAR


def _holds(outer: Sequence[str], inner: Sequence[str]) -> bool:
    """Whether `inner` is a run of words inside `outer` ("milk" in "oat milk")."""
    n = len(inner)
    return 0 < n <= len(outer) and any(
        all(alike(o, i) for o, i in zip(outer[k : k + n], inner, strict=True))
        for k in range(len(outer) - n + 1)
    )


def candidates(said: str, entries: Sequence[str]) -> list[int]:
    """The entries `said` may mean, from the best kind of match that any entry makes: the same
    words; the same words nearly spelt; an entry holding the words said. (Entries held in what
    was said, "eggs" in "eggs and bread", are each meant: `mentioned` finds them.)"""
    wanted = words(said)
    if not wanted:
        return []
    keys = [words(e) for e in entries]
    exact = [i for i, k in enumerate(keys) if k == wanted]
    if exact:
        return exact[:1]
    near = [
        i
        for i, k in enumerate(keys)
        if len(k) == len(wanted) and all(alike(a, b) for a, b in zip(k, wanted, strict=True))
    ]
    if near:
        return near
    return [i for i, k in enumerate(keys) if _holds(k, wanted)]


def mentioned(text: str, entries: Sequence[str]) -> list[int]:
    """The entries named anywhere in `text`, whole (nearly spelt is enough), longest first where
    two overlap ("oat milk" rather than "milk" in "remove the oat milk"); in the text's order."""
    tokens = [singular(w) for w in _WORD.findall(text.lower())]
    spans: list[tuple[int, int, int]] = []  # (start, end, entry)
    for index, entry in enumerate(entries):
        key = words(entry)
        n = len(key)
        for k in range(len(tokens) - n + 1 if n else 0):
            window = tokens[k : k + n]
            exact = window == list(key)
            near = all(
                alike(t, w) and t not in _COMMAND_WORDS for t, w in zip(window, key, strict=True)
            )
            if exact or near:
                spans.append((k, k + n, index))
    chosen: list[tuple[int, int, int]] = []
    for span in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
        if all(span[1] <= c[0] or c[1] <= span[0] for c in chosen):
            chosen.append(span)
    return list(dict.fromkeys(index for _, _, index in sorted(chosen)))


def _by_head(text: str, entries: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Words of `text` that are the last word of some entries ("milk" of "oat milk" and "soy
    milk"), with those entries: what the request may mean when no entry is named whole."""
    heads: dict[str, list[int]] = {}
    for index, entry in enumerate(entries):
        key = words(entry)
        if key:
            heads.setdefault(key[-1], []).append(index)
    found = []
    for token in dict.fromkeys(singular(w) for w in _WORD.findall(text.lower())):
        if token in _COMMAND_WORDS:
            continue
        matching = [i for head, ids in heads.items() if alike(token, head) for i in ids]
        if matching:
            found.append((token, matching))
    return found


def resolve_removal(text: str, named: Sequence[str], entries: Sequence[str]) -> Removal:
    """The entries of the list a removal means: the `named` items (the NLU's) matched against
    `entries`, and the entries the `text` names besides (see the module's doc)."""
    found: list[int] = []
    missing: list[str] = []
    ambiguous: list[tuple[str, tuple[str, ...]]] = []
    for item in named:
        options = candidates(item, entries)
        if len(options) == 1:
            found.append(options[0])
        elif options:
            ambiguous.append((item, tuple(entries[i] for i in options)))
        else:
            missing.append(item)
    # The request's own words: entries the NLU missed, or named with a word too many or two in
    # one ("lemons anymore", "eggs and bread").
    unmatched = list(missing)
    for index in mentioned(text, entries):
        if index in found or any(entries[index] in options for _, options in ambiguous):
            continue
        key = set(words(entries[index]))
        overlapping = [m for m in unmatched if key & set(words(m))]
        if overlapping or not named:
            found.append(index)
            missing = [m for m in missing if m not in overlapping]
    if not found and not ambiguous:
        for token, options in _by_head(text, entries)[:1]:
            if len(options) == 1:
                found.append(options[0])
            else:
                ambiguous.append((token, tuple(entries[i] for i in options)))
            missing = [m for m in missing if token not in words(m)]
    return Removal(
        found=tuple(entries[i] for i in dict.fromkeys(found)),
        missing=tuple(missing),
        ambiguous=tuple(ambiguous),
    )


def pick(text: str, choices: Sequence[str]) -> list[str]:
    """Which of `choices` the answer to "which one?" picks: "the oat milk", "oat", "the first
    one", "both"; none when it names none of them."""
    if _BOTH.search(text):
        return list(choices)
    lowered = text.lower()
    for word, position in _ORDINALS.items():
        if re.search(rf"\b{word}\b", lowered):
            return [choices[position]] if -len(choices) <= position < len(choices) else []
    whole = mentioned(text, choices)
    if whole:
        return [choices[i] for i in whole]
    # A word that only one choice has: "oat" of "oat milk" and "soy milk".
    said = {singular(w) for w in _WORD.findall(lowered)} - _COMMAND_WORDS
    only = [
        c
        for c in choices
        if any(alike(w, s) for w in words(c) for s in said)
        and not all(any(alike(w, s) for w in words(o) for s in said) for o in choices)
    ]
    return only if len(only) == 1 else []
