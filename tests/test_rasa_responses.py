"""Responses in Rasa's format: variations, conditions, channels, buttons, image and custom payloads,
and a button's payload typed by the user (`/intent{"entity": "value"}`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.dialogue.actions import domain_json, parse_result
from assistant.dialogue.responses import ResponseError, ResponsePicker, parse_variations
from assistant.nlu.payload import PayloadError, parse_payload
from assistant.skills.loader import SkillSet, load_skill
from tests.chat import chat_run

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Path(__file__).parent / "data" / "rasa" / "restaurant"
SKILLS = SkillSet((load_skill(PROJECT),))


def test_a_condition_on_a_slot_chooses_the_variation() -> None:
    picker = ResponsePicker(SKILLS.response_variants, seed=1)
    values = {"num_people": 3, "cuisine": "indian"}
    outside = picker.pick("s", "utter_submit", values, {**values, "outdoor_seating": True})
    inside = picker.pick("s", "utter_submit", values, {**values, "outdoor_seating": False})
    assert outside is not None and inside is not None
    assert outside.text == "All done! A table outside for 3 people, indian food."
    assert inside.text == "All done! A table inside for 3 people, indian food."


def test_variations_are_not_repeated_and_placeholders_are_filled() -> None:
    picker = ResponsePicker(SKILLS.response_variants, seed=3)
    said = [picker.choose("s", "utter_greet") for _ in range(4)]
    assert said[0] != said[1] and said[1] != said[2] and said[2] != said[3]
    assert set(said) == {"Hello! I can book you a table.", "Hi there! Want a table somewhere?"}
    # A missing value reads as nothing rather than failing the turn.
    assert picker.choose("s", "utter_wrong_cuisine") == "Sorry, we don't serve  food."
    assert picker.choose("s", "utter_nothing") is None


def test_a_channel_has_its_own_variations_and_the_others_get_the_plain_ones() -> None:
    values = {"cuisine": "french"}
    plain = ResponsePicker(SKILLS.response_variants, seed=0).pick("s", "utter_menu", values)
    own = ResponsePicker(SKILLS.response_variants, seed=0, channel="socketio").pick(
        "s", "utter_menu", values
    )
    other = ResponsePicker(SKILLS.response_variants, seed=0, channel="rest").pick(
        "s", "utter_menu", values
    )
    assert plain is not None and own is not None and other is not None
    assert plain.text == other.text == "Here is the menu."
    assert own.text == "Menu below."
    # The image is data for a client, with its placeholder filled; never in the words.
    assert plain.data == {"image": "https://example.org/menu/french.png"}


def test_buttons_are_numbered_in_the_words_and_kept_as_data() -> None:
    chosen = ResponsePicker(SKILLS.response_variants).pick("s", "utter_ask_cuisine")
    assert chosen is not None
    assert chosen.text == "What cuisine would you like? 1. Italian, 2. Chinese."
    assert chosen.data["buttons"][1] == {
        "title": "Chinese",
        "payload": '/inform{"cuisine": "chinese"}',
    }


def test_a_custom_payload_is_data_only() -> None:
    chosen = ResponsePicker(SKILLS.response_variants).pick("s", "utter_map")
    assert chosen is not None
    assert chosen.text == ""
    assert chosen.data == {"custom": {"map": {"lat": 51.5, "lon": -0.12}}}


def test_the_domain_sent_to_actions_keeps_every_part_of_a_response() -> None:
    domain = domain_json(SKILLS)
    assert domain["responses"]["utter_submit"][0]["condition"] == [
        {"type": "slot", "name": "outdoor_seating", "value": True}
    ]
    assert domain["responses"]["utter_map"] == [{"custom": {"map": {"lat": 51.5, "lon": -0.12}}}]
    assert domain["forms"]["restaurant_form"]["ignored_intents"] == ["chitchat"]


def test_an_actions_buttons_image_and_custom_are_kept() -> None:
    result = parse_result(
        "action_x",
        [],
        [
            {"text": "Pick one", "buttons": [{"title": "Yes", "payload": "/affirm"}]},
            {"image": "https://example.org/a.png"},
            {"custom": {"blocks": [1, 2]}},
        ],
    )
    first, second, third = result.utterances
    assert first.text == "Pick one 1. Yes."
    assert dict(first.data) == {"buttons": [{"title": "Yes", "payload": "/affirm"}]}
    assert (second.text, dict(second.data)) == ("", {"image": "https://example.org/a.png"})
    assert (third.text, dict(third.data)) == ("", {"custom": {"blocks": [1, 2]}})


def test_a_variation_that_is_not_rasa_s_format_is_a_clear_error() -> None:
    with pytest.raises(ResponseError, match=r"responses.utter_x\[0\]: a variation needs"):
        parse_variations("responses.utter_x", [{"txt": "typo"}])
    with pytest.raises(ResponseError, match=r"condition\[0\]: expected type: slot"):
        parse_variations("responses.utter_x", [{"text": "a", "condition": [{"type": "x"}]}])
    with pytest.raises(ResponseError, match=r"responses.utter_x\[0\].buttons\[0\]: expected"):
        ResponsePicker({"utter_x": [{"buttons": [1]}]})


def test_a_typed_payload_names_its_intent_and_entities() -> None:
    intent, entities = parse_payload('/inform{"cuisine": "italian", "number": 2}') or (None, ())
    assert intent is not None and (intent.name, intent.confidence) == ("inform", 1.0)
    assert [(e.entity, e.value) for e in entities] == [("cuisine", "italian"), ("number", 2)]
    greet = parse_payload("/greet")
    assert greet is not None and greet[0].name == "greet" and greet[1] == ()
    assert parse_payload("what is 1/2") is None
    with pytest.raises(PayloadError, match="not valid JSON"):
        parse_payload('/inform{"cuisine": }')


def test_a_payload_typed_in_the_chat_bypasses_the_classifier(assistant_bin: str) -> None:
    lines = ['/add_to_list{"item": ["oat milk", "bread"]}', "/show_list", "/no_such_intent"]
    (added, shown, unknown), stderr = chat_run(assistant_bin, lines, "--set", "dst=tracker-memory")
    assert added["intent"] == {"name": "add_to_list", "confidence": 1.0}
    assert "oat milk" in added["text"] and "bread" in added["text"]
    assert shown["intent"]["name"] == "show_list"
    assert "oat milk" in shown["text"] and "bread" in shown["text"]
    # An intent the skills do not have is understood as words, and said so on stderr.
    assert unknown["intent"]["confidence"] < 1.0
    assert "the skills have no intent 'no_such_intent'" in stderr
