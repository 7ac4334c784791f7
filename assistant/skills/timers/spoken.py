"""How the timers speak of lengths of time: "an hour and a half", "a ten minute timer"."""

from __future__ import annotations

from typing import Any

TimerInfo = dict[str, Any]

_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
]  # fmt: skip
_TENS = {30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty",
         90: "ninety"}  # fmt: skip
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def number_word(n: int) -> str:
    """Small and round numbers as words (they read better in text); others as digits."""
    if 0 <= n < len(_WORDS):
        return _WORDS[n]
    return _TENS.get(n, str(n))


def join_words(parts: list[str]) -> str:
    """Join words as spoken: a; a and b; a, b and c."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _split(seconds: float) -> list[tuple[int, str]]:
    rest = max(0, round(seconds))
    parts = []
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append((count, unit))
    return parts


def _half(seconds: float) -> tuple[int, str] | None:
    """(2, "hour") when the duration is two and a half hours; minutes likewise."""
    total = round(seconds)
    for unit, size in (("hour", 3600), ("minute", 60)):
        whole, rest = divmod(total, size)
        if whole > 0 and rest == size // 2 and total < (86400 if unit == "hour" else 3600):
            return whole, unit
    return None


def speak_duration(seconds: float) -> str:
    """A length of time as a person says it: "an hour and a half", "ten minutes",
    "45 seconds", "an hour and five minutes"."""
    half = _half(seconds)
    if half is not None:
        whole, unit = half
        if whole == 1:
            return f"{with_article(unit)} and a half"
        return f"{number_word(whole)} and a half {unit}s"
    parts = _split(seconds)
    if not parts:
        return "zero seconds"
    indefinite = {"day": "a day", "hour": "an hour", "minute": "a minute", "second": "one second"}
    return join_words(
        [indefinite[unit] if n == 1 else f"{number_word(n)} {unit}s" for n, unit in parts]
    )


def timer_label(seconds: float) -> str:
    """How a timer of this length is named: "ten minute" (as in "a ten minute timer"),
    "hour and a half", or "one hour and five minutes" when it has several parts."""
    half = _half(seconds)
    if half is not None:
        whole, unit = half
        return f"{unit} and a half" if whole == 1 else f"{number_word(whole)} and a half {unit}"
    parts = _split(seconds)
    if len(parts) == 1:
        n, unit = parts[0]
        return f"{number_word(n)} {unit}"
    return join_words([f"{number_word(n)} {unit}{'' if n == 1 else 's'}" for n, unit in parts])


def with_article(phrase: str) -> str:
    """The phrase with "a" or "an" as it sounds: a ten minute, an eight minute, an hour."""
    first = phrase.split(" ", 1)[0].lower()
    vowel_sound = (first[:1] in ("a", "e", "i", "o") and first != "one") or first == "hour"
    return f"{'an' if vowel_sound or first.startswith('8') else 'a'} {phrase}"


def timer_phrase(timer: TimerInfo) -> str:
    """A timer as a noun phrase: a ten minute timer, or "a timer for an hour and five
    minutes" when its length has several parts."""
    label = str(timer["label"])
    if " and " in label and "a half" not in label:
        return f"a timer for {speak_duration(float(timer['seconds']))}"
    return f"{with_article(label)} timer"


def speak_remaining(seconds: float) -> str:
    """Time left, as precise as is useful: seconds only in the last ten minutes."""
    if seconds >= 600:
        seconds = round(seconds / 60) * 60
    return speak_duration(max(1, seconds))
