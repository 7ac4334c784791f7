"""References through `assistant chat`, as a user says them (issue 14, item 1): removals resolved
against the shopping list, which one when ambiguous, "make it ten" for the timer or the count
just spoken of, and "it" / "that timer" for the timer just set."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chat(assistant_bin: str, lines: list[str]) -> list[str]:
    """The replies to `lines`, said one after another in one conversation."""
    result = subprocess.run(
        [assistant_bin, "chat", "--json", "--set", "dst=tracker-memory"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    replies = [str(json.loads(line)["text"]) for line in result.stdout.splitlines()]
    assert len(replies) == len(lines), replies
    return replies


def test_removals_are_resolved_against_the_list(assistant_bin: str) -> None:
    replies = chat(
        assistant_bin,
        [
            "add eggs to my shopping list",
            "and bread",
            "remove the eggs",
            "what's on my list",
            "add milk and tomatoes",
            "take the milk off",
            "cross off the tomatos",
            "what's on my list",
        ],
    )
    assert "eggs" in replies[0] and "bread" in replies[1]
    assert replies[2] == "Removed eggs from your shopping list."
    assert replies[3] == "Your list has bread."
    assert replies[5] == "Removed milk from your shopping list."
    assert replies[6] == "Removed tomatoes from your shopping list."  # as it is on the list
    assert replies[7] == "Your list has bread."


def test_an_ambiguous_removal_asks_which_one(assistant_bin: str) -> None:
    replies = chat(
        assistant_bin,
        [
            "add oat milk and soy milk to my list",
            "remove the milk",
            "the oat one",
            "what's on my list",
            "add almond milk",
            "take the milk off",
            "both",
            "what's on my list",
            "set a timer for ten minutes",
            "add rice milk and coconut milk",
            "remove the milk",
            "never mind",
            "how long is left",
        ],
    )
    assert replies[1] == "Which one should I take off: oat milk or soy milk?"
    assert replies[2] == "Removed oat milk from your shopping list."
    assert replies[3] == "Your list has soy milk."
    assert replies[5] == "Which one should I take off: soy milk or almond milk?"
    assert replies[6] == "Removed soy milk and almond milk from your shopping list."
    assert replies[7] == "Your shopping list is empty."
    # "Never mind" to the list's question lets it go: it is not "cancel it" for the timer.
    assert replies[10] == "Which one should I take off: rice milk or coconut milk?"
    assert "timer" not in replies[11]
    assert replies[12].startswith("Your ten minute timer has "), replies[12]


def test_make_it_changes_the_timer_just_set_and_it_is_that_timer(assistant_bin: str) -> None:
    replies = chat(
        assistant_bin,
        [
            "set a timer for eight minutes",
            "make it ten",
            "how long is left on it",
            "set a timer for twenty minutes",
            "how long is left on it",
            "stop that timer",
            "the twenty minute one",
            "how long is left",
        ],
    )
    assert replies[0] == "Okay, an eight minute timer, starting now."
    assert replies[1] == "Okay, I changed it to ten minutes."
    assert replies[2].startswith("Your ten minute timer has "), replies[2]
    # "it" right after setting the second timer is that timer ...
    assert replies[4].startswith("Your twenty minute timer has "), replies[4]
    assert "ten minute" not in replies[4]
    # ... but cancelling asks which of the two (a wrong cancel costs more than a question),
    # and the answer, which alone reads as setting a timer, cancels the one it names.
    assert "Which one should I cancel?" in replies[5], replies[5]
    assert replies[6] == "Okay, I cancelled your twenty minute timer."
    assert replies[7].startswith("Your ten minute timer has "), replies[7]
    assert "twenty" not in replies[7]


def test_make_it_with_two_timers_and_none_just_set_asks_which(assistant_bin: str) -> None:
    replies = chat(
        assistant_bin,
        [
            "set a timer for five minutes",
            "set a timer for an hour",
            "what time is it",
            "how long is left on my timers",
            "make it two",
            "change the five minute timer to ten minutes",
            "how long is left",
        ],
    )
    assert "Which one should I change?" in replies[4], replies[4]
    assert replies[5] == "Okay, I changed it to ten minutes."
    assert "ten minute timer" in replies[6] and "one hour timer" in replies[6], replies[6]
    assert "five minute" not in replies[6]


def test_the_answer_to_which_timer_names_one(assistant_bin: str) -> None:
    replies = chat(
        assistant_bin,
        [
            "set a timer for five minutes",
            "set a timer for an hour",
            "what time is it",
            "make it two",
            "the five minute one",  # two of that timer's unit: minutes
            "how long is left",
        ],
    )
    assert "Which one should I change?" in replies[3], replies[3]
    assert replies[4] == "Okay, I changed it to two minutes."
    assert "two minute timer" in replies[5] and "one hour timer" in replies[5], replies[5]


def test_make_it_changes_the_count_of_the_item_just_added(assistant_bin: str) -> None:
    replies = chat(
        assistant_bin,
        [
            "add two lemons to my list",
            "make it three",
            "add eggs and two limes",
            "make it four",
            "the limes",
            "what's on my list",
        ],
    )
    assert replies[1] == "Okay, three lemons instead of two lemons."
    assert replies[3] == "Which one should I make four: eggs or two limes?"
    assert replies[4] == "Okay, four limes instead of two limes."
    assert replies[5] == "Your list has three lemons, eggs and four limes."
