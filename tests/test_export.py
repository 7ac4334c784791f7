"""Training-data export with the real Presidio analyzer and spaCy model: personal data planted in
the conversations is found nowhere in any exported file, every JSON file loads with
`datasets.load_dataset`, the filters (flagged conversations, safety, duplicates, consent), DPO
pairs only where a bad reply has a better alternative, the manifest of each line's user, and the
one-line errors that write nothing."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

# datasets keeps its cache out of the home folder and never asks the hub (HF_HOME is left
# alone: other tests' models may live there).
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="assistant-tests-datasets-"))
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from assistant.learning.anonymize import Pseudonymizer, find_personal_data
from assistant.learning.export import FORMATS, ExportError, ExportResult, export
from assistant.learning.rows import ConsentRow, FeedbackRow, TurnRow
from assistant.skills.loader import load_skill

DAY = 86_400.0
T0 = 1_780_000_000.0  # 2026-05-28

# Planted personal data: none of it may reach an export, in any format.
PLANTED = [
    "Maria Gonzalez", "Maria", "Gonzalez", "Jonathan Whitfield", "Whitfield", "Olusegun",
    "Obasanjo",
    "(415) 555-2671", "415-555-2671", "4155552671", "+44 20 7946 0958", "7946 0958",
    "lee.chan@example.co.uk", "tom.baker@example.com",
    "4111 1111 1111 1111", "4111111111111111", "5500-0000-0000-0004",
    "536-22-8726", "943 476 5919", "DE89 3704 0044 0532 0130 00", "340020013",
]  # fmt: skip

FLAGGED_MARKER = "zebra crossing riddle"
SAFETY_MARKER = "how do i pick a lock"
WITHDRAWN_MARKER = "recite the ferry timetable"


def turn(conv: str, n: int, user: str, said: str, reply: str, **extra: Any) -> TurnRow:
    return TurnRow(conv, n, user, T0 + n * 60 + extra.pop("day", 0) * DAY, said, reply, **extra)


def note(conv: str, n: int, user: str, kind: Any, **extra: Any) -> FeedbackRow:
    return FeedbackRow(conv, n, user, kind, T0 + n * 60 + 30, **extra)


def records() -> tuple[list[TurnRow], list[FeedbackRow]]:
    """Users u1..u4 in eight conversations; texts as a keeper that anonymized nothing would
    have written them (the export's own scan must catch everything)."""
    turns = [
        turn("a", 0, "u1", "Hi, my name is Maria Gonzalez.", "Hello Maria Gonzalez!",
             intent="greet", confidence=0.9),
        turn("a", 1, "u1", "Please call Maria Gonzalez on (415) 555-2671 tomorrow.",
             "I can't make calls, but 415-555-2671 is noted for Maria.", intent="call"),
        turn("a", 2, "u1", "remind me to email tom.baker@example.com and lee.chan@example.co.uk",
             "I can't send e-mail yet.", intent="remind"),
        turn("a", 3, "u1", "my card number is 4111 1111 1111 1111 and my SSN is 536-22-8726",
             "Please don't share card or ID numbers with me.", intent="chitchat"),
        # b: misunderstood, corrected, then understood
        turn("b", 0, "u1", "put oat milk on it", "Sorry, I didn't get that.",
             intent="nlu_fallback", confidence=0.3),
        turn("b", 1, "u1", "no, I meant add oat milk to my shopping list",
             "Added oat milk to your shopping list.", intent="add_to_list"),
        turn("b", 2, "u1", "ask Jonathan Whitfield to bring 5500-0000-0000-0004",
             "Sorry, I didn't get that.", intent="nlu_fallback"),
        turn("b", 3, "u1", "I'm Olusegun Obasanjo, my passport number is 340020013",
             "Nice to meet you.", intent="chitchat"),
        turn("b", 4, "u1", "/good", "Thanks, noted.", intent="records_notice"),
        # c: flagged by its user
        turn("c", 0, "u2", f"tell me a {FLAGGED_MARKER}", "Why did the zebra cross?"),
        # d: the guard refused one turn
        turn("d", 0, "u2", SAFETY_MARKER, "I can't help with that.",
             guard={"rule": "harm", "score": 0.9, "refused": True}),
        turn("d", 1, "u2", "what's the weather", "I have no weather source offline, sorry.",
             intent="weather"),
        turn("d", 2, "u2", "The NHS number is 943 476 5919, IBAN DE89 3704 0044 0532 0130 00",
             "Noted, though I'd rather not keep such numbers.", intent="chitchat"),
        # e: another user says what a said first: a duplicate SFT line, of both users
        turn("e", 0, "u3", "Hi, my name is Maria Gonzalez.", "Hello Maria Gonzalez!"),
        turn("e", 1, "u3", "Please call Maria Gonzalez on (415) 555-2671 tomorrow.",
             "I can't make calls, but 415-555-2671 is noted for Maria."),
        turn("e", 2, "u3", "remind me to email tom.baker@example.com and lee.chan@example.co.uk",
             "I can't send e-mail yet."),
        turn("e", 3, "u3", "my card number is 4111 1111 1111 1111 and my SSN is 536-22-8726",
             "Please don't share card or ID numbers with me."),
        # f: a bad reply to words another conversation got a good reply to
        turn("f", 0, "u3", "what's the weather", "I can't check the weather.", intent="weather"),
        # g: a bad reply with no alternative anywhere
        turn("g", 0, "u3", "sing me a song", "Here is a joke instead.", intent="joke"),
        # h: a user who withdrew consent
        turn("h", 0, "u4", WITHDRAWN_MARKER, "I don't have timetables."),
    ]  # fmt: skip
    feedback = [
        note("a", 0, "u1", "good"),
        note("a", 3, "u1", "good"),
        note("b", 0, "u1", "correction", correction="add oat milk to my shopping list",
             corrected_intent="add_to_list"),
        note("b", 1, "u1", "good"),
        note("b", 2, "u1", "correction", correction="call Jonathan Whitfield",
             corrected_intent="call"),
        note("c", 0, "u2", "flag", comment="not funny"),
        note("d", 1, "u2", "good"),
        note("f", 0, "u3", "bad", comment="unhelpful"),
        note("g", 0, "u3", "bad"),
        note("h", 0, "u4", "good"),
    ]  # fmt: skip
    return [*turns, turns[1]], feedback  # the last row is written twice


CONSENTS = {
    user: ConsentRow(user, "records", "granted", version, "May I keep our conversations?", T0)
    for user, version in (("u1", 1), ("u2", 1), ("u3", 2))
} | {"u4": ConsentRow("u4", "records", "withdrawn", 2, "May I keep...?", T0 + DAY)}


def consent(user_key: str) -> ConsentRow | None:
    return CONSENTS.get(user_key)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportResult]:
    """Every format exported once from the same records (the scans are the slow part)."""
    turns, feedback = records()
    root = tmp_path_factory.mktemp("exports")
    return {fmt: export(turns, feedback, fmt, root / fmt, consent=consent) for fmt in FORMATS}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def texts_of(record: Any) -> list[str]:
    if isinstance(record, str):
        return [record]
    if isinstance(record, dict):
        return [t for value in record.values() for t in texts_of(value)]
    if isinstance(record, list):
        return [t for value in record for t in texts_of(value)]
    return []


def test_planted_personal_data_is_found_nowhere_in_any_export(
    exports: dict[str, ExportResult],
) -> None:
    for fmt, result in exports.items():
        assert result.files[-1].name == "README.md"
        assert [p.name for p in result.files[:-1]] == list(FORMATS[fmt])
        for path in result.files:
            content = path.read_text()
            digits = re.sub(r"\D", "", content)
            for secret in PLANTED:
                assert secret.casefold() not in content.casefold(), (fmt, path.name, secret)
                if sum(c.isdigit() for c in secret) >= 9:
                    assert re.sub(r"\D", "", secret) not in digits, (fmt, path.name, secret)
    # The texts that held them are there, with pseudonyms, consistent within a conversation.
    sft = read_jsonl(exports["sft"].files[0])
    said = [m["content"] for line in sft for m in line["messages"]]
    assert "Hi, my name is <PERSON_1>." in said
    assert "Please call <PERSON_1> on <PHONE_NUMBER_1> tomorrow." in said
    assert "I can't make calls, but <PHONE_NUMBER_1> is noted for <PERSON_1>." in said
    assert "remind me to email <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_2>" in said
    assert exports["sft"].counts["pseudonymized_again"] >= 20


def test_every_exported_text_is_clean_on_a_second_scan(exports: dict[str, ExportResult]) -> None:
    for result in exports.values():
        for path in result.files[:-1]:
            if path.suffix == ".jsonl":
                for line in read_jsonl(path):
                    for text in texts_of(line):
                        assert find_personal_data(text) == [], (path.name, text)


def test_every_json_file_loads_with_datasets(
    exports: dict[str, ExportResult], tmp_path: Path
) -> None:
    from datasets import load_dataset

    columns = {
        "sft.jsonl": ["messages"],
        "kto.jsonl": ["prompt", "completion", "label"],
        "dpo.jsonl": ["prompt", "chosen", "rejected"],
        "nlu.jsonl": ["text", "intent"],
    }
    for result in exports.values():
        for path in result.files:
            if path.suffix != ".jsonl":
                continue
            data = load_dataset(
                "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
            )
            assert data.column_names == columns[path.name]
            assert data.num_rows == len(path.read_text().splitlines()) > 0
            assert data.to_list() == read_jsonl(path)


def test_sft_holds_conversations_and_leaves_out_what_it_must(
    exports: dict[str, ExportResult],
) -> None:
    result = exports["sft"]
    content = result.files[0].read_text()
    for absent in (FLAGGED_MARKER, SAFETY_MARKER, WITHDRAWN_MARKER, "put oat milk on it"):
        assert absent not in content  # flagged, guard refused, consent withdrawn, corrected
    lines = read_jsonl(result.files[0])
    for line in lines:
        roles = [m["role"] for m in line["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and roles
    assert len(lines) == 3  # a (= e: one line of both users), b, d; f and g: one bad reply each
    c = result.counts
    assert c["duplicate_rows"] == 1
    assert (c["left_out_flagged"], c["left_out_safety"], c["left_out_not_consented"]) == (1, 1, 1)
    assert c["duplicate_lines"] == 1
    assert c["left_out_rated_bad"] == 4  # b0, b2 corrected; f0, g0 rated bad
    assert c["left_out_records_talk"] == 1 and "Thanks, noted." not in content


def test_include_safety_keeps_and_labels_the_turns_where_safety_fired(tmp_path: Path) -> None:
    turns, feedback = records()
    result = export(turns, feedback, "sft", tmp_path / "out", include_safety=True)
    lines = read_jsonl(result.files[0])
    fired = [line for line in lines if SAFETY_MARKER in json.dumps(line)]
    assert len(fired) == 1 and fired[0]["safety_fired"] is True
    assert fired[0]["safety_rules"] == "harm"
    assert all(line["safety_fired"] is False for line in lines if line is not fired[0])
    assert FLAGGED_MARKER not in result.files[0].read_text()  # flags still count
    assert WITHDRAWN_MARKER in result.files[0].read_text()  # no consent check was asked for
    assert "are included and labelled (`safety_fired`, `safety_rules` on each line): 1." in (
        result.files[-1].read_text()
    )


def test_labelled_safety_turns_in_rasa_nlu_load_as_a_skill_and_a_dataset(tmp_path: Path) -> None:
    from datasets import load_dataset

    turns, feedback = records()
    meant = note("d", 0, "u2", "correction", correction="open my door", corrected_intent="door")
    result = export(turns, [*feedback, meant], "rasa-nlu", tmp_path / "out", include_safety=True)
    nlu_yml, nlu_jsonl = result.files[:2]
    assert "# the guard or the reply filter fired on these turns\n- intent: door" in (
        nlu_yml.read_text()
    )
    examples = {(e.text, e.intent) for e in load_skill(nlu_yml.parent).examples}
    assert examples == {("put oat milk on it", "add_to_list"), (SAFETY_MARKER, "door")}
    data = load_dataset(
        "json", data_files=str(nlu_jsonl), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert sorted(data.to_list(), key=lambda row: row["intent"]) == [
        {"text": "put oat milk on it", "intent": "add_to_list", "safety_fired": False,
         "safety_rules": ""},
        {"text": SAFETY_MARKER, "intent": "door", "safety_fired": True, "safety_rules": "harm"},
    ]  # fmt: skip


def test_kto_labels_rated_replies_with_the_conversation_so_far(
    exports: dict[str, ExportResult],
) -> None:
    lines = read_jsonl(exports["kto"].files[0])
    by_reply = {line["completion"][0]["content"]: line for line in lines}
    assert by_reply["Added oat milk to your shopping list."]["label"] is True
    assert [m["content"] for m in by_reply["Added oat milk to your shopping list."]["prompt"]] == [
        "put oat milk on it",
        "Sorry, I didn't get that.",
        "no, I meant add oat milk to my shopping list",
    ]
    assert by_reply["I can't check the weather."]["label"] is False
    assert by_reply["Here is a joke instead."]["label"] is False
    labels = sorted((line["label"], line["completion"][0]["content"]) for line in lines)
    assert len(labels) == 8  # a0 a3 b0 b1 b2 d1 f0 g0; e's copies of a are not rated
    assert not any(WITHDRAWN_MARKER in json.dumps(line) for line in lines)


def test_dpo_pairs_only_bad_replies_with_a_corrected_or_well_rated_alternative(
    exports: dict[str, ExportResult],
) -> None:
    result = exports["dpo"]
    pairs = {
        (line["prompt"][-1]["content"], line["chosen"][0]["content"],
         line["rejected"][0]["content"])
        for line in read_jsonl(result.files[0])
    }  # fmt: skip
    assert pairs == {
        # corrected: the reply once the user said what they meant
        ("put oat milk on it", "Added oat milk to your shopping list.",
         "Sorry, I didn't get that."),
        # well rated elsewhere: the same words got a reply someone liked
        ("what's the weather", "I have no weather source offline, sorry.",
         "I can't check the weather."),
    }  # fmt: skip
    # b2's correction is never said in a later turn, g has no alternative at all
    assert result.counts["bad_without_alternative"] == 2
    manifest = result.manifest[result.files[0]]
    weather = next(
        n for n, line in enumerate(read_jsonl(result.files[0]))
        if line["prompt"][-1]["content"] == "what's the weather"
    )  # fmt: skip
    assert weather in manifest["u2"] and weather in manifest["u3"]  # the words of both


def test_rasa_nlu_holds_corrected_utterances_and_loads_as_a_skill(
    exports: dict[str, ExportResult], tmp_path: Path
) -> None:
    result = exports["rasa-nlu"]
    nlu_yml, nlu_jsonl = result.files[:2]
    assert yaml.safe_load(nlu_yml.read_text())["version"] == "3.1"
    skill = load_skill(nlu_yml.parent)
    assert [(e.text, e.intent) for e in skill.examples] == [("put oat milk on it", "add_to_list")]
    assert read_jsonl(nlu_jsonl) == [{"text": "put oat milk on it", "intent": "add_to_list"}]
    assert result.counts["left_out_pseudonym"] == 1  # "ask <PERSON_1> to bring <CREDIT_CARD_1>"
    # The store forgets u1 by dropping u1's lines: what is left is still Rasa training data.
    dropped = set(result.manifest[nlu_yml]["u1"])
    kept = [line for n, line in enumerate(nlu_yml.read_text().splitlines()) if n not in dropped]
    (tmp_path / "nlu.yml").write_text("\n".join(kept) + "\n")
    assert load_skill(tmp_path).examples == ()


def test_manifest_names_the_user_of_every_data_line(exports: dict[str, ExportResult]) -> None:
    for result in exports.values():
        for path in result.files[:-1]:
            lines = path.read_text().splitlines()
            owned = result.manifest[path]
            assert set(owned) <= {"u1", "u2", "u3"}
            numbers = {n for ns in owned.values() for n in ns}
            if path.suffix == ".jsonl":
                assert numbers == set(range(len(lines)))
            else:  # nlu.yml: the example lines, not the headings
                assert {n for n, line in enumerate(lines) if line.startswith("    - ")} == numbers
    sft = exports["sft"]
    owners = sft.manifest[sft.files[0]]
    lines = [json.dumps(line) for line in read_jsonl(sft.files[0])]
    shared = next(n for n, line in enumerate(lines) if "Hi, my name is" in line)
    assert shared in owners["u1"] and shared in owners["u3"]  # a and e said the same
    assert {n for n, line in enumerate(lines) if "weather source" in line} == set(owners["u2"])


def test_dataset_card_states_counts_filters_consent_and_dates(
    exports: dict[str, ExportResult],
) -> None:
    card = exports["sft"].files[-1].read_text()
    assert "- `sft.jsonl`: 3 examples" in card
    assert "- turns of conversations a user flagged: 1\n" in card
    assert "- turns where the guard or the reply filter fired: 1\n" in card
    assert "- turns of users who declined or withdrew consent: 1\n" in card
    assert "- turns rated bad or corrected (not imitated in SFT): 4\n" in card
    assert "- repeated examples (one kept): 1\n" in card
    assert f"found and replaced then: {exports['sft'].counts['pseudonymized_again']}." in card
    assert "2 users granted consent to records under policy version 1." in card
    assert "1 user granted consent to records under policy version 2." in card
    assert "dates: 2026-05-28 to 2026-05-28 (UTC)" in card
    assert "data_files:\n      - sft.jsonl" in card
    assert not re.search(r"\bu[1-4]\b", card)  # names no user key


def test_a_non_empty_folder_an_unknown_format_or_nothing_to_export_writes_nothing(
    tmp_path: Path,
) -> None:
    turns, feedback = records()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "file").write_text("")
    cases = [
        ("sft", tmp_path / "full", r"full is not empty: export into a new or empty folder"),
        ("csv", tmp_path / "new", r"unknown export format 'csv': use one of sft, kto, dpo"),
        ("kto", tmp_path / "file", r"file is a file: export into a new or empty folder"),
    ]
    for fmt, out, message in cases:
        with pytest.raises(ExportError, match=message) as error:
            export(turns, feedback, fmt, out)
        assert "\n" not in str(error.value)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    assert not (tmp_path / "new").exists()
    assert (tmp_path / "file").read_text() == ""
    # An empty file is no dataset (load_dataset fails on it): nothing to export is an error.
    for fmt, rows, message in [
        ("sft", [], "nothing to export: none of the 0 recorded turns is left after the filters"),
        ("dpo", turns, "nothing to export as dpo: no bad reply has a corrected or well-rated"),
        ("rasa-nlu", turns, "nothing to export as rasa-nlu: no correction with its intent"),
    ]:
        with pytest.raises(ExportError, match=message):
            export(rows, [], fmt, tmp_path / "empty")
        assert not (tmp_path / "empty").exists()


def test_pseudonyms_are_consistent_within_a_conversation_and_new_in_the_next() -> None:
    one = Pseudonymizer()
    assert one.anonymize("Please call Maria Gonzalez on (415) 555-2671.") == (
        "Please call <PERSON_1> on <PHONE_NUMBER_1>."
    )
    # the same number however written, the same person by part of her name or in lower case
    assert one.anonymize("Ring 415 555 2671 for Maria.") == "Ring <PHONE_NUMBER_1> for <PERSON_1>."
    assert one.anonymize("call maria gonzalez") == "call <PERSON_1>"
    assert one.anonymize("and Jonathan Whitfield too") == "and <PERSON_2> too"
    assert one.anonymize_json([{"entity": "name", "value": "Maria Gonzalez"}]) == [
        {"entity": "name", "value": "<PERSON_1>"}
    ]
    other = Pseudonymizer()
    assert other.anonymize("Jonathan Whitfield called.") == "<PERSON_1> called."
    # a conversation anonymized before goes on from the pseudonyms it holds
    later = Pseudonymizer(["Hello <PERSON_1>, your number is <PHONE_NUMBER_3>"])
    assert later.anonymize("My name is Olusegun Obasanjo") == "My name is <PERSON_2>"
    assert (
        later.anonymize("my name is bob and i like cats") == "my name is <PERSON_3> and i like cats"
    )
    assert find_personal_data("<PERSON_1> rang <PHONE_NUMBER_1>") == []


def test_ordinary_assistant_talk_is_left_alone() -> None:
    plain = Pseudonymizer()
    for text in (
        "set a timer for 10 minutes", "Timer set for 5:30 pm.", "what's 12 times 7",
        "convert 5 miles to km", "add oat milk to my shopping list", "I'm hungry",
        "tell me a joke", "It's November.", "Yes, today is Friday, December 4.",
        "It's 3:42 in the afternoon.", "call me back later", "this is Monday's list",
    ):  # fmt: skip
        assert plain.anonymize(text) == text
    assert plain.replaced == 0


def test_users_who_declined_or_withdrew_are_left_out(tmp_path: Path) -> None:
    turns, feedback = records()
    answers = {
        "u1": replace(CONSENTS["u1"], answer="declined"),
        "u2": replace(CONSENTS["u2"], answer="withdrawn"),
        "u4": CONSENTS["u4"],
    }  # u3 was never asked: recorded under `records.consent: granted`
    result = export(turns, feedback, "sft", tmp_path / "out", consent=answers.get)
    assert result.counts["left_out_not_consented"] == 14  # u1: 9, u2: 4, u4: 1
    assert result.manifest[result.files[0]].keys() == {"u3"}
    card = result.files[-1].read_text()
    assert "- 1 user recorded with consent granted by the configuration" in card
    assert "policy version" not in card


def test_turns_anonymized_when_recorded_keep_their_pseudonyms(tmp_path: Path) -> None:
    """The keeper's path: rows written through a Pseudonymizer need nothing more at export."""
    raw, _ = records()
    keeper = Pseudonymizer()
    rows = [
        replace(row, user_text=keeper.anonymize(row.user_text),
                reply_text=keeper.anonymize(row.reply_text))
        for row in raw if row.conversation_key == "a"
    ][:4]  # fmt: skip
    result = export(rows, [], "sft", tmp_path / "out")
    assert result.counts["pseudonymized_again"] == 0
    [line] = read_jsonl(result.files[0])
    assert [m["content"] for m in line["messages"]] == [
        text for row in rows for text in (row.user_text, row.reply_text)
    ]
    assert "<PERSON_1>" in rows[0].user_text and "<PHONE_NUMBER_1>" in rows[1].reply_text


def test_forgetting_a_user_through_the_store_removes_their_lines_from_every_export(
    tmp_path: Path,
) -> None:
    """The manifest's contract with the real store: export from it, record each file's lines,
    forget u1: none of u1's words are left, the others' are, and every file still loads."""
    from datasets import load_dataset

    from assistant.learning.store import SQLiteRecordStore

    turns, feedback = records()
    with SQLiteRecordStore(tmp_path / "records.sqlite") as store:
        for consent_row in CONSENTS.values():
            store.add_consent(consent_row)
        for row in turns[:-1]:  # the store keeps one row per turn
            store.add_turn(row)
        for feedback_row in feedback:
            store.add_feedback(feedback_row)
        results = {}
        for fmt in FORMATS:
            results[fmt] = export(store.turns(), store.feedback(), fmt, tmp_path / fmt,
                                  consent=store.consent)  # fmt: skip
            for path, users in results[fmt].manifest.items():
                store.add_export(str(path), T0 + DAY, users)
        receipt = store.forget_user("u1")
    assert receipt.counts["export_lines"] == sum(
        len(set(r.manifest[p].get("u1", []))) for r in results.values() for p in r.manifest
    ) > 0  # fmt: skip
    only_u1 = ["oat milk", "Nice to meet you", "Hi, my name is", "<CREDIT_CARD_1>"]
    for result in results.values():
        for path in result.manifest:
            content = path.read_text()
            assert not any(words in content for words in only_u1), (path.name, content)
            if path.suffix == ".jsonl" and content:
                data = load_dataset("json", data_files=str(path), split="train",
                                    cache_dir=str(tmp_path / "hf"))  # fmt: skip
                assert data.num_rows == len(content.splitlines())
    assert "weather source" in results["sft"].files[0].read_text()  # u2's line stays
    assert load_skill(tmp_path / "rasa-nlu").examples == ()
