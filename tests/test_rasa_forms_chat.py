"""The restaurant project (tests/data/rasa/restaurant) through `assistant chat --skill`, as a
Rasa user runs it: its rules start and submit the form, its FormValidationAction rejects a
cuisine and a count of 0 with its own messages, a rule answers chitchat in the middle of the
form, and a button's payload typed by the user fills a slot."""

from __future__ import annotations

import subprocess

from tests.chat import ROOT, chat_run

RESTAURANT = ROOT / "tests" / "data" / "rasa" / "restaurant"


def chat(assistant_bin: str, lines: list[str]) -> list[dict[str, object]]:
    return chat_run(
        assistant_bin, lines, "--set", "dst=tracker-memory", "--skill", str(RESTAURANT)
    )[0]


def test_the_story_of_a_table_outside(assistant_bin: str) -> None:
    turns = chat(
        assistant_bin,
        [
            "I'd like to book a table",
            "vietnamese food",
            "do you like italian food",
            "italian please",
            "we are 0",
            "we are 4",
            "yes",
            "yes please",
        ],
    )
    texts = [str(t["text"]) for t in turns]
    ask_cuisine = "What cuisine would you like? 1. Italian, 2. Chinese."
    assert texts[0] == ask_cuisine
    assert texts[1] == "Sorry, we don't serve vietnamese food. " + ask_cuisine
    assert texts[2] == "I'd love to chat, but let's book your table first. " + ask_cuisine
    assert texts[3] == "For how many people?"
    assert texts[4] == "I can only book for one guest or more. For how many people?"
    assert texts[5] == "Do you want to sit outside?"
    assert texts[6].endswith("Shall we put a heater by your table?")
    assert texts[7].endswith(
        "All done! A table outside for 4 people, italian food. Here is the menu."
    )
    # Buttons and the image are in the record, for a client to show; only words are said.
    assert turns[0]["responses"] == [
        {
            "text": ask_cuisine,
            "buttons": [
                {"title": "Italian", "payload": '/inform{"cuisine": "italian"}'},
                {"title": "Chinese", "payload": '/inform{"cuisine": "chinese"}'},
            ],
        }
    ]
    assert turns[7]["responses"] == [
        {"text": "Here is the menu.", "image": "https://example.org/menu/italian.png"}
    ]


def test_a_typed_payload_answers_the_form(assistant_bin: str) -> None:
    turns = chat(
        assistant_bin,
        [
            "find me a restaurant",
            '/inform{"cuisine": "chinese"}',
            '/inform{"number": 2}',
            "/affirm",
            "/affirm",
        ],
    )
    assert [t["intent"]["name"] for t in turns] == [  # type: ignore[index]
        "request_restaurant", "inform", "inform", "affirm", "affirm",
    ]  # fmt: skip
    assert turns[1]["text"] == "For how many people?"
    assert str(turns[4]["text"]).endswith(
        "All done! A table outside for 2 people, chinese food. Here is the menu."
    )


def test_a_response_only_shown_is_kept_in_the_record_and_printed_not_apologised_for(
    assistant_bin: str,
) -> None:
    (turn,) = chat(assistant_bin, ["where is the restaurant"])
    assert turn["text"] == ""  # nothing to say: a map to show
    assert turn["responses"] == [{"text": "", "custom": {"map": {"lat": 51.5, "lon": -0.12}}}]
    plain = subprocess.run(
        [assistant_bin, "chat", "--set", "dst=tracker-memory", "--skill", str(RESTAURANT)],
        input="where is the restaurant\n", capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert plain.stdout.strip() == '(custom: {"map": {"lat": 51.5, "lon": -0.12}})', plain.stdout
