"""The shopping list's removal resolver: which entries "remove the eggs", "take the milk off",
"cross off the tomatos" mean, and which one the answer to "which one?" picks."""

from __future__ import annotations

import pytest

from assistant.skills.shopping.resolve import (
    Removal,
    candidates,
    mentioned,
    pick,
    resolve_removal,
    singular,
    words,
)

SHOPPING = ["Eggs", "bread", "oat milk", "soy milk", "tomatoes", "two lemons", "paper towels"]


@pytest.mark.parametrize(
    ("word", "form"),
    [
        ("eggs", "egg"),
        ("tomatoes", "tomato"),
        ("tomatos", "tomato"),
        ("cherries", "cherry"),
        ("peaches", "peach"),
        ("glass", "glass"),
        ("hummus", "hummus"),
        ("peas", "pea"),
    ],
)
def test_singular_forms_compare_plurals(word: str, form: str) -> None:
    assert singular(word) == form


def test_words_leave_out_articles_and_counts() -> None:
    assert words("the two Lemons") == ("lemon",)
    assert words("some of the bananas") == ("banana",)
    assert words("2 pints of milk") == ("pint", "of", "milk")
    assert words("the") == ("the",)  # a lone word is kept, whatever it is


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        ("eggs", ["Eggs"]),
        ("the eggs", ["Eggs"]),
        ("egg", ["Eggs"]),
        ("tomatos", ["tomatoes"]),  # a near spelling
        ("lemons", ["two lemons"]),  # the count on the list is not part of the name
        ("towels", ["paper towels"]),  # the only entry that holds the word
        ("milk", ["oat milk", "soy milk"]),  # two do: ambiguous
        ("cheese", []),
    ],
)
def test_candidates(said: str, meant: list[str]) -> None:
    assert [SHOPPING[i] for i in candidates(said, SHOPPING)] == meant


def test_a_near_spelling_is_not_any_similar_word() -> None:
    assert candidates("mild", ["milk"]) == []
    assert candidates("peas", ["pears"]) == []  # too short to call a misspelling
    assert candidates("pasta", ["paste"]) == []


def test_mentioned_prefers_the_longest_entry_in_the_texts_order() -> None:
    entries = ["milk", "oat milk", "bread"]
    assert [entries[i] for i in mentioned("remove the bread and the oat milk", entries)] == [
        "bread",
        "oat milk",
    ]


@pytest.mark.parametrize(
    ("text", "named", "found"),
    [
        ("remove the eggs", [], ("Eggs",)),  # the NLU found nothing: the text names it
        ("take the milk off", ["milk"], ()),  # ambiguous, see below
        ("scratch the bananas", [], ()),
        ("cross off the tomatos", ["tomatos"], ("tomatoes",)),
        ("i don't need lemons anymore", ["lemons anymore"], ("two lemons",)),
        ("remove eggs and bread", ["eggs and bread"], ("Eggs", "bread")),
        ("take the oat milk off", [], ("oat milk",)),
        ("remove the oat milk please", ["oat milk please"], ("oat milk",)),
        ("remove paper towels and eggs", ["paper towels", "eggs"], ("paper towels", "Eggs")),
    ],
)
def test_resolve_removal_finds_the_entries(text: str, named: list[str], found: tuple) -> None:
    assert resolve_removal(text, named, SHOPPING).found == found


def test_what_is_not_on_the_list_is_missing() -> None:
    assert resolve_removal("remove the cheese", ["cheese"], SHOPPING) == Removal(
        missing=("cheese",)
    )
    assert resolve_removal("scratch the bananas", [], SHOPPING) == Removal()


def test_two_entries_that_fit_alike_are_ambiguous() -> None:
    expected = Removal(ambiguous=(("milk", ("oat milk", "soy milk")),))
    assert resolve_removal("take the milk off", ["milk"], SHOPPING) == expected
    # The NLU found nothing: the request's own word is what is ambiguous.
    assert resolve_removal("take the milk off", [], SHOPPING) == expected
    # A plain "milk" on the list is what "the milk" means.
    assert resolve_removal("take the milk off", [], ["oat milk", "milk"]).found == ("milk",)


@pytest.mark.parametrize(
    ("answer", "picked"),
    [
        ("the oat milk", ["oat milk"]),
        ("oat", ["oat milk"]),
        ("the soy one", ["soy milk"]),
        ("the first one", ["oat milk"]),
        ("the last one", ["soy milk"]),
        ("both", ["oat milk", "soy milk"]),
        ("all of them", ["oat milk", "soy milk"]),
        ("milk", []),
        ("what's the time", []),
    ],
)
def test_pick_reads_the_answer_to_which_one(answer: str, picked: list[str]) -> None:
    assert pick(answer, ["oat milk", "soy milk"]) == picked
