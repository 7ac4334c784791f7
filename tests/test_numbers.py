"""Numbers and durations written in words or digits: the rule-based system entities."""

from __future__ import annotations

import pytest

from assistant.nlu.numbers import (
    find_durations,
    find_numbers,
    parse_duration,
    parse_number,
    tokenize,
)

NUMBERS: list[tuple[str, float]] = [
    ("17", 17),
    ("3.5", 3.5),
    ("1,000", 1000),
    ("1,250,000", 1_250_000),
    ("-2", -2),
    ("0", 0),
    ("zero", 0),
    ("seventeen", 17),
    ("twenty three", 23),
    ("twenty-three", 23),
    ("Twenty Three", 23),
    ("ninety nine", 99),
    ("one hundred and five", 105),
    ("one hundred five", 105),
    ("nineteen hundred", 1900),
    ("a dozen", 12),
    ("two dozen", 24),
    ("half a dozen", 6),
    ("a hundred", 100),
    ("a thousand", 1000),
    ("a thousand and one", 1001),
    ("two thousand and twenty", 2020),
    ("two thousand twenty three", 2023),
    ("three hundred thousand", 300_000),
    ("one million two hundred thousand", 1_200_000),
    ("1.5 million", 1_500_000),
    ("5 hundred", 500),
    ("half", 0.5),
    ("a half", 0.5),
    ("one and a half", 1.5),
    ("two and a quarter", 2.25),
    ("three point five", 3.5),
    ("three point one four", 3.14),
    ("point five", 0.5),
    ("minus five", -5),
    ("a couple", 2),
    ("17.", 17),
]


@pytest.mark.parametrize(("text", "value"), NUMBERS)
def test_parse_number(text: str, value: float) -> None:
    parsed = parse_number(text)
    assert parsed == value
    # ints when integral: 1.5 million is 1500000, not 1500000.0
    assert isinstance(parsed, int) == float(value).is_integer()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "minute",
        "a",
        "an",
        "a lot of time",
        "the",
        "hundreds",
        "seventeen apples",
        "twenty three four",
        "point",
        "3rd",
        "mp3",
        "one two",
        "and",
        "minus",
    ],
)
def test_not_numbers(text: str) -> None:
    assert parse_number(text) is None


DURATIONS: list[tuple[str, float]] = [
    ("ten minutes", 600),
    ("10 min", 600),
    ("10min", 600),
    ("an hour and a half", 5400),
    ("1.5 hours", 5400),
    ("one and a half hours", 5400),
    ("half an hour", 1800),
    ("a half hour", 1800),
    ("half a minute", 30),
    ("a minute", 60),
    ("an hour", 3600),
    ("90 seconds", 90),
    ("two hours and fifteen minutes", 8100),
    ("two hours fifteen minutes", 8100),
    ("1 hour, 20 minutes and 5 seconds", 4805),
    ("1h 30m", 5400),
    ("1h30m", 5400),
    ("quarter of an hour", 900),
    ("a quarter of an hour", 900),
    ("three quarters of an hour", 2700),
    ("a couple of minutes", 120),
    ("couple of minutes", 120),
    ("five secs", 5),
    ("2 hrs", 7200),
    ("two days", 172_800),
    ("a week", 604_800),
    ("2 hours and a half", 9000),
    ("twenty-five minutes", 1500),
    ("Ten Minutes", 600),
]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "minute",
        "minutes",
        "a lot of time",
        "ten",
        "some minutes",
        "a few minutes",
        "5 m",  # metres as likely as minutes: one-letter units only glued to digits
        "-5 minutes",
        "ten minutes ago and then",
        "the second one",
    ],
)
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def spans(found: list[tuple[int, int, float]], text: str) -> list[tuple[str, float]]:
    return [(text[start:end], value) for start, end, value in found]


def test_find_durations_in_free_text() -> None:
    text = "set a timer for an hour and a half please"
    assert find_durations(text) == [(16, 34, 5400)]
    assert text[16:34] == "an hour and a half"


def test_find_durations_takes_the_longest_match() -> None:
    text = "remind me in two hours and fifteen minutes to stretch"
    assert spans(find_durations(text), text) == [("two hours and fifteen minutes", 8100)]


def test_find_durations_keeps_separate_durations_apart() -> None:
    # Parts of one duration go from larger to smaller units; "5 minutes and 5 minutes" is two.
    text = "a timer for 5 minutes and another for 5 minutes and 30 seconds"
    assert spans(find_durations(text), text) == [
        ("5 minutes", 300),
        ("5 minutes and 30 seconds", 330),
    ]


def test_find_durations_mixed_forms() -> None:
    text = "Bake for 1h 15m, rest half an hour, then a 10-minute glaze."
    assert spans(find_durations(text), text) == [
        ("1h 15m", 4500),
        ("half an hour", 1800),
        ("10-minute", 600),
    ]


def test_find_durations_ignores_non_durations() -> None:
    assert find_durations("I have a lot of time this minute") == []
    assert find_durations("wait a second") == [(5, 13, 1)]


def test_find_numbers_in_free_text() -> None:
    text = "what is 17 times twenty-three, minus one hundred and five?"
    assert spans(find_numbers(text), text) == [
        ("17", 17),
        ("twenty-three", 23),
        ("minus one hundred and five", -105),
    ]


def test_find_numbers_operator_minus_is_not_a_sign() -> None:
    text = "how much is five minus twelve"
    assert spans(find_numbers(text), text) == [("five", 5), ("twelve", 12)]


def test_find_numbers_digits_and_words() -> None:
    text = "buy a dozen eggs, 1,000 grams of flour and 2.5 litres of milk"
    assert spans(find_numbers(text), text) == [("a dozen", 12), ("1,000", 1000), ("2.5", 2.5)]


def test_find_numbers_skips_parts_of_words_and_pronouns() -> None:
    text = "play mp3 files from the 3rd folder, that one"
    assert find_numbers(text) == []
    assert spans(find_numbers("one more, not this one"), "one more, not this one") == [("one", 1)]


def test_find_numbers_a_is_not_one() -> None:
    assert find_numbers("add a bag of rice") == []


def test_offsets_survive_case_changing_characters() -> None:
    # "İ" lowercases to two characters; offsets must still index the original text.
    text = "İstanbul in twenty minutes"
    ((start, end, seconds),) = find_durations(text)
    assert (text[start:end], seconds) == ("twenty minutes", 1200)


def test_tokenize_keeps_offsets() -> None:
    text = "don't add 10min, -2 or 1,000!"
    tokens = tokenize(text)
    assert [t.text for t in tokens] == ["don't", "add", "10", "min", ",", "-2", "or", "1,000", "!"]
    assert all(text[t.start : t.end] == t.text for t in tokens)
    # a dash between numbers is a range, not a minus sign
    assert [t.text for t in tokenize("10-20")] == ["10", "-", "20"]


def test_a_second_timer_is_not_one_second() -> None:
    from assistant.nlu.numbers import find_durations

    assert find_durations("start a second timer for an hour") == [(25, 32, 3600)]
    assert find_durations("wait a second please") == [(5, 13, 1)]
