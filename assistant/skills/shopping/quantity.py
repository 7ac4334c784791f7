"""How many of an item the list holds, as said: "two lemons", "2 pints of milk", "a bag of onions".

Items are kept as the user said them, the count included, so "make it three" after "add two
lemons" rewrites the count in the words: "three lemons". The noun after the count follows it
(one lemon, three lemons); a count in digits stays in digits.
"""

from __future__ import annotations

import re

from assistant.skills.shopping.resolve import singular

_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
]  # fmt: skip
_ONE = ("a", "an")
# Amounts that are no count of their own: "make it three" replaces them whole.
_VAGUE = re.compile(
    r"^\s*(half a dozen|a few|a couple( of)?|some|several|lots of|plenty of)\s+(?=\S)",
    re.IGNORECASE,
)
_INVARIABLE = frozenset({"dozen", "hundred"})  # two dozen eggs
_LEADING = re.compile(
    rf"^\s*(?P<count>\d+|{'|'.join(_WORDS)}|{'|'.join(_ONE)})\s+(?P<rest>\S.*)$", re.IGNORECASE
)


def count_of(item: str) -> tuple[int | None, str]:
    """The count an item starts with and the rest: "two lemons" -> (2, "lemons"),
    "a bag of onions" -> (1, "bag of onions"), "lemons" -> (None, "lemons")."""
    vague = _VAGUE.match(item)
    if vague is not None:
        return None, item[vague.end() :].strip()
    match = _LEADING.match(item)
    if match is None:
        return None, item.strip()
    said = match["count"].lower()
    count = 1 if said in _ONE else int(said) if said.isdigit() else _WORDS.index(said)
    return count, match["rest"].strip()


def with_count(item: str, count: int) -> str:
    """The item with `count` in place of its own: with_count("two lemons", 3) -> "three lemons",
    with_count("2 pints of milk", 1) -> "1 pint of milk", with_count("eggs", 12) -> "12 eggs"."""
    _, rest = count_of(item)
    said = str(count) if re.match(r"\s*\d", item) else count_word(count)
    head, _, tail = rest.partition(" ")
    if head.lower() not in _INVARIABLE:
        head = plural(head) if count != 1 else singular_word(head)
    return " ".join(p for p in (said, head, tail) if p)


def count_word(count: int) -> str:
    """Small counts as words, as they are said; others in digits."""
    return _WORDS[count] if 0 <= count < len(_WORDS) else str(count)


def plural(word: str) -> str:
    lowered = word.lower()
    if lowered.endswith("s"):
        return word
    if lowered.endswith("y") and lowered[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    if lowered.endswith(("ch", "sh", "x", "o")):
        return word + "es"
    return word + "s"


def singular_word(word: str) -> str:
    """ "lemons" -> "lemon", keeping the word's case where it is unchanged."""
    form = singular(word.lower())
    return word[: len(form)] if word.lower().startswith(form) else form
