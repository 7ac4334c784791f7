"""Numbers and durations in English text, spelled out or in digits (the "system entities" that
Rasa gets from Duckling).

Everything is rule-based and knows nothing about intents: a small grammar over word tokens
recognises how a number or a duration is *written* ("twenty-three", "1,000", "an hour and a half",
"1h 30m") and computes its value. `parse_*` read a whole string; `find_*` scan free text and
return character spans, taking the longest match at each position.
"""

from __future__ import annotations

import re
from typing import NamedTuple

Number = int | float

UNITS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
TEENS: dict[str, int] = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS: dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES: dict[str, int] = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
FRACTIONS: dict[str, float] = {"half": 0.5, "quarter": 0.25}

# Time units that may follow any quantity ("ten minutes", "5 mins", "an hour").
TIME_UNITS: dict[str, int] = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600,
    "day": 86400, "days": 86400, "week": 604800, "weeks": 604800,
}  # fmt: skip
# One-letter units only count glued to digits ("1h 30m"): "5 m" is more likely metres.
_LETTER_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400}

NUMBER_WORDS: frozenset[str] = frozenset(
    [*UNITS, *TEENS, *TENS, *SCALES, *FRACTIONS, "hundred", "dozen", "couple", "quarters"]
)
TIME_UNIT_WORDS: frozenset[str] = frozenset([*TIME_UNITS, *_LETTER_UNITS])

# "one" after these is a pronoun ("this one", "the next one"), not the number.
_PRONOUN_ONE_AFTER = frozenset([
    "this", "that", "which", "the", "no", "any", "every", "each", "some", "another", "next",
    "last", "other", "first",
])  # fmt: skip


_SIGNS = frozenset(["minus", "negative"])


class Token(NamedTuple):
    text: str
    lower: str
    start: int
    end: int


_TOKEN = re.compile(
    # digits: 17, 3.5, 1,000 and -2 (a minus only where it cannot be a dash: "10-20")
    r"(?:(?<![\w.,-])-)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
    r"|[^\W\d_]+(?:'[^\W\d_]+)*"  # words, with inner apostrophes: don't, o'clock
    r"|\S"  # any other character stands alone
)


def tokenize(text: str) -> list[Token]:
    """Split into digit runs, words and single punctuation marks, keeping character offsets.
    Digits and letters are split apart ("10min" -> "10", "min"), which the grammar relies on."""
    return [Token(m[0], m[0].lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _digits_value(text: str) -> Number | None:
    if not text or not (text[0].isdigit() or (text[0] == "-" and len(text) > 1)):
        return None
    plain = text.replace(",", "")
    return float(plain) if "." in plain else int(plain)


def _tidy(value: float) -> Number:
    """Ints stay ints; floats that came out integral (1.5 * 3600) become ints."""
    if isinstance(value, float):
        value = round(value, 9)  # 0.1 + 0.2 style noise
        if value.is_integer():
            return int(value)
    return value


class _Seq:
    """Tokens with bounds-safe access: past either end a word is ''."""

    __slots__ = ("n", "tokens", "values", "words")

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.words = [t.lower for t in tokens]
        self.values = [_digits_value(t.text) for t in tokens]
        self.n = len(tokens)

    def __getitem__(self, i: int) -> str:
        return self.words[i] if 0 <= i < self.n else ""

    def value(self, i: int) -> Number | None:
        return self.values[i] if 0 <= i < self.n else None

    def glued(self, i: int) -> bool:
        """Token i touches token i-1 and both are alphanumeric: one written word ("mp3")."""
        if i <= 0 or i >= self.n:
            return False
        before, this = self.tokens[i - 1], self.tokens[i]
        return before.end == this.start and before.text[-1].isalnum() and this.text[0].isalnum()


# --- numbers -------------------------------------------------------------------------------------
# Each parser takes the token position to start at and returns (value, end) or None. They are
# greedy, so the first parse found from a position is the longest.


def _below_100(s: _Seq, i: int) -> tuple[int, int] | None:
    word = s[i]
    if word in TENS:
        k = i + 2 if s[i + 1] == "-" else i + 1  # twenty-three
        if UNITS.get(s[k], 0) > 0:
            return TENS[word] + UNITS[s[k]], k + 1
        return TENS[word], i + 1
    if word in TEENS:
        return TEENS[word], i + 1
    if word in UNITS:
        return UNITS[word], i + 1
    return None


def _below_1000(s: _Seq, i: int) -> tuple[Number, int] | None:
    value: Number
    if s[i] in ("a", "an") and s[i + 1] == "hundred":
        value, j = 1, i + 1
    elif (digits := s.value(i)) is not None:
        value, j = digits, i + 1
    elif (small := _below_100(s, i)) is not None:
        value, j = small
    else:
        return None
    if s[j] == "hundred" and isinstance(value, int) and 1 <= value < 100:
        value, j = value * 100, j + 1
        k = j + 1 if s[j] == "and" else j  # one hundred and five
        rest = _below_100(s, k)
        if rest is not None and rest[0] > 0:
            return value + rest[0], rest[1]
    return value, j


def _cardinal(s: _Seq, i: int, limit: int | None = None) -> tuple[Number, int] | None:
    value: Number
    if s[i] in ("a", "an") and (s[i + 1] in SCALES or s[i + 1] == "dozen"):
        value, j = 1, i + 1  # a thousand, a dozen
    elif (head := _below_1000(s, i)) is not None:
        value, j = head
    else:
        return None
    scale = SCALES.get(s[j])
    if scale is not None and (limit is None or scale < limit) and value > 0:
        value, j = value * scale, j + 1
        k = j + 1 if s[j] == "and" else j  # two thousand and twenty
        rest = _cardinal(s, k, scale)
        if rest is not None and 0 < rest[0] < scale:
            return value + rest[0], rest[1]
    return value, j


def _decimals(s: _Seq, i: int) -> tuple[str, int] | None:
    """The digits after "point": "five", "one four", or "5"."""
    value = s.value(i)
    if isinstance(value, int) and value >= 0 and s.tokens[i].text.isdigit():
        return s.tokens[i].text, i + 1
    digits = ""
    while s[i] in UNITS:
        digits += str(UNITS[s[i]])
        i += 1
    return (digits, i) if digits else None


def _number(s: _Seq, i: int) -> tuple[Number, int] | None:
    sign = -1 if s[i] in _SIGNS else 1
    found = _unsigned(s, i + 1 if sign < 0 else i)
    return None if found is None else (_tidy(sign * found[0]), found[1])


def _unsigned(s: _Seq, i: int) -> tuple[Number, int] | None:
    if s[i] == "half" or (s[i] == "a" and s[i + 1] == "half"):
        j = i + 1 if s[i] == "half" else i + 2
        if s[j] == "a" and s[j + 1] == "dozen":
            return 6, j + 2  # half a dozen
        return 0.5, j
    if s[i] == "a" and s[i + 1] == "couple":
        return 2, i + 2
    if s[i] == "point" and (decimals := _decimals(s, i + 1)) is not None:
        return float(f"0.{decimals[0]}"), decimals[1]  # point five
    found = _cardinal(s, i)
    if found is None:
        return None
    value, j = found
    if s[j] == "dozen":
        return value * 12, j + 1
    if s[j] == "point" and isinstance(value, int):
        decimals = _decimals(s, j + 1)
        if decimals is not None:
            return float(f"{value}.{decimals[0]}"), decimals[1]
    if s[j] == "and" and s[j + 1] in ("a", "one") and s[j + 2] in FRACTIONS:
        return value + FRACTIONS[s[j + 2]], j + 3  # one and a half
    return value, j


# --- durations -----------------------------------------------------------------------------------


class _Part(NamedTuple):
    seconds: float
    unit: int
    end: int


def _unit(s: _Seq, i: int, after_digits: bool) -> int | None:
    if s[i] in TIME_UNITS:
        return TIME_UNITS[s[i]]
    if after_digits and s[i] in _LETTER_UNITS and s.glued(i):
        return _LETTER_UNITS[s[i]]
    return None


def _fraction_of_unit(s: _Seq, i: int) -> _Part | None:
    """half an hour, a half hour, (a) quarter of an hour, three quarters of an hour."""
    k = i + 1 if s[i] in ("a", "an", "one") else i
    if s[k] in FRACTIONS:
        fraction, k = FRACTIONS[s[k]], k + 1
    elif (s[k] == "three" or s.value(k) == 3) and s[k + 1] == "quarters":
        fraction, k = 0.75, k + 2
    else:
        return None
    if s[k] == "of":
        k += 1
    if s[k] in ("a", "an"):
        k += 1
    unit = _unit(s, k, after_digits=False)
    return None if unit is None else _Part(fraction * unit, unit, k + 1)


# Words that may follow "a second" meaning one second ("wait a second please").
_AFTER_A_SECOND = frozenset({"", "and", "or", "please", "then", "to", "for", "left", "more", "so"})


def _is_ordinal_use(following: str) -> bool:
    return following.isalpha() and following not in _AFTER_A_SECOND


def _duration_part(s: _Seq, i: int) -> _Part | None:
    fraction = _fraction_of_unit(s, i)
    if fraction is not None:
        return fraction
    quantity: Number
    if s[i] in ("a", "an") and _unit(s, i + 1, after_digits=False) is not None:
        if s[i + 1] == "second" and _is_ordinal_use(s[i + 2]):
            return None  # "a second timer" is another timer, not one second
        quantity, j = 1, i + 1  # an hour
    elif s[i] == "couple" and s[i + 1] == "of":
        quantity, j = 2, i + 2
    elif (found := _number(s, i)) is not None:
        quantity, j = found
        if s[j] == "of" and s[j - 1] == "couple":
            j += 1  # a couple of minutes
    else:
        return None
    if quantity < 0:
        return None
    after_digits = j == i + 1 and s.value(i) is not None
    if s[j] == "-" and s[j + 1] in TIME_UNITS:
        j += 1  # a 10-minute timer
    unit = _unit(s, j, after_digits)
    if unit is None:
        return None
    seconds, j = quantity * unit, j + 1
    if s[j] == "and" and s[j + 1] in ("a", "one") and s[j + 2] in FRACTIONS:
        seconds, j = seconds + FRACTIONS[s[j + 2]] * unit, j + 3  # an hour and a half
    return _Part(seconds, unit, j)


def _duration(s: _Seq, i: int) -> tuple[Number, int] | None:
    part = _duration_part(s, i)
    if part is None:
        return None
    total, unit, end = part.seconds, part.unit, part.end
    # "two hours and fifteen minutes", "1h 30m": later parts must use smaller units, so that
    # "5 minutes and 5 minutes" stays two durations.
    while True:
        k = end + 1 if s[end] in ("and", ",") else end
        more = _duration_part(s, k)
        if more is None or more.unit >= unit:
            break
        total, unit, end = total + more.seconds, more.unit, more.end
    return _tidy(total), end


# --- public API ----------------------------------------------------------------------------------

_TRAILING_PUNCTUATION = frozenset(".,!?;:")


def _whole(text: str) -> _Seq:
    tokens = tokenize(text)
    while tokens and tokens[-1].text in _TRAILING_PUNCTUATION:
        tokens.pop()
    return _Seq(tokens)


def parse_number(text: str) -> Number | None:
    """The number that the whole of `text` spells, or None: "twenty-three" -> 23,
    "one and a half" -> 1.5, "1,000" -> 1000. Ints when integral."""
    s = _whole(text)
    found = _number(s, 0) if s.n else None
    return found[0] if found is not None and found[1] == s.n else None


def parse_duration(text: str) -> float | None:
    """The length in seconds of the duration that the whole of `text` spells, or None:
    "an hour and a half" -> 5400. An int when integral (an int is a float to type checkers)."""
    s = _whole(text)
    found = _duration(s, 0) if s.n else None
    return found[0] if found is not None and found[1] == s.n else None


def _find(text: str, durations: bool) -> list[tuple[int, int, Number]]:
    s = _Seq(tokenize(text))
    spans: list[tuple[int, int, Number]] = []
    i = 0
    last_end = -1
    while i < s.n:
        if s[i] in _SIGNS and last_end == i:
            i += 1  # "five minus twelve": an operator between numbers, not a sign
            continue
        found = None if s.glued(i) else (_duration(s, i) if durations else _number(s, i))
        if found is not None and not s.glued(found[1]):
            value, end = found
            pronoun = end == i + 1 and s[i] == "one" and s[i - 1] in _PRONOUN_ONE_AFTER
            if not pronoun:
                spans.append((s.tokens[i].start, s.tokens[end - 1].end, value))
                i = last_end = end
                continue
        i += 1
    return spans


def find_numbers(text: str) -> list[tuple[int, int, Number]]:
    """Every number in free text as (start, end, value), longest match first, left to right."""
    return _find(text, durations=False)


def find_durations(text: str) -> list[tuple[int, int, float]]:
    """Every duration in free text as (start, end, seconds):
    "set a timer for an hour and a half please" -> [(16, 34, 5400)]."""
    return [(start, end, seconds) for start, end, seconds in _find(text, durations=True)]
