"""Conversation records as a user meets them, through the CLI on the real models: the consent
question, answers in words and commands, ratings and corrections stored on the turn they are
about, anonymized turns, nothing kept without consent, and `assistant data forget`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from assistant.audio.wav import write_wav
from assistant.config import DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.runner import Pipeline
from assistant.learning.book import BookSettings, RecordsBook
from assistant.learning.consent import ConsentPolicy
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession
from tests.conftest import ROOT
from tests.home import Home
from tests.speech import conversation

QUESTION = ConsentPolicy.load().question
PLANTED = ("Dana Whitfield", "415-555-0199", "dana.whitfield@example.org")


@pytest.fixture(scope="module")
def consented(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, list[str]]:
    home = Home(tmp_path_factory.mktemp("consented"))
    said = home.chat(
        "yes",
        "add milk to my shopping list",
        # Not "my name is ...": the memory skill's turns are never recorded.
        f"my friend {PLANTED[0]} has the number {PLANTED[1]} and mail {PLANTED[2]}",
        "what's on my shopping list",
        "that's wrong",
        "/flag rude answer",
        "what is 12 times 9",
        "/good",
        "no, I meant add eggs",
        "/consent",
        "stop recording",
        "what time is it",
    )
    return home, said


def test_the_question_is_asked_and_a_yes_is_stored_with_its_wording(
    consented: tuple[Home, list[str]],
) -> None:
    home, said = consented
    assert said[0] == QUESTION
    assert "keep anonymized records" in said[1]
    (granted, withdrawn) = home.rows("consents")
    assert granted["answer"] == "granted" and granted["policy_version"] == 1
    assert granted["wording"] == QUESTION and granted["kind"] == "records"
    assert withdrawn["answer"] == "withdrawn"
    assert "as you agreed on" in said[10]  # /consent tells what is kept


def test_consented_turns_are_kept_anonymized_and_nothing_after_stop(
    consented: tuple[Home, list[str]],
) -> None:
    home, said = consented
    turns = {row["turn"]: row for row in home.rows("turns")}
    # 1: the answer, 5, 6, 8: ratings, 11: stop, 12: after stopping (none of them kept).
    assert sorted(turns) == [2, 3, 4, 7, 9], sorted(turns)
    assert turns[2]["user_text"] == "add milk to my shopping list"
    assert turns[2]["intent"] == "add_to_list" and "Added milk" in turns[2]["reply_text"]
    assert json.loads(turns[7]["timings_ms"])["nlu"] > 0
    models = json.loads(turns[7]["models"])
    assert models["nlu"] == "intent-minilm" and len(turns[7]["config_hash"]) == 64
    kept = json.dumps(home.rows("turns"))
    for planted in PLANTED:
        assert planted not in kept and planted.split()[0] not in kept, planted
    assert "It's" in said[-1]  # and the assistant goes on answering


def test_ratings_and_corrections_are_stored_on_the_turn_they_are_about(
    consented: tuple[Home, list[str]],
) -> None:
    home, said = consented
    rows = home.rows("feedback")
    feedback = [(r["turn"], r["kind"], r["comment"], r["correction"]) for r in rows]
    assert feedback == [
        (4, "bad", "", ""),
        (4, "flag", "rude answer", ""),
        (7, "good", "", ""),
        (7, "correction", "", "add eggs"),
    ]
    assert home.rows("feedback")[3]["corrected_intent"] == "add_to_list"
    assert "Added eggs" in said[9]  # the correction does what was meant


def test_without_consent_nothing_is_kept_and_everything_works(tmp_path: Path) -> None:
    home = Home(tmp_path)
    said = home.chat("no", "what is 12 times 9", "/good", "are you recording me")
    assert said[0] == QUESTION and "won't keep any records" in said[1]
    assert "108" in said[2]
    assert "can't keep that" in said[3]
    assert "not keeping any records" in said[4]
    assert home.rows("turns") == [] and home.rows("feedback") == []
    # Asked once per user: the next conversation goes straight to work.
    assert home.chat("what is 2 plus 2") == ["2 plus 2 is 4."]


def test_a_one_shot_run_asks_nothing_and_keeps_nothing(tmp_path: Path) -> None:
    home = Home(tmp_path)
    done = home.run("chat", "--once", "what is 2 plus 2")
    assert done.stdout.strip() == "2 plus 2 is 4.", done.stdout
    assert home.rows("consents") == [] and home.rows("turns") == []


def test_a_new_wording_is_asked_again(tmp_path: Path) -> None:
    policy = tmp_path / "consent.yaml"
    text = ConsentPolicy.load()
    settings = BookSettings(
        mode="ask", store_path=tmp_path / "records.sqlite", key_path=tmp_path / "key" / "k",
        policy=text,
    )  # fmt: skip
    book = RecordsBook(settings)
    book.submit(book.answer, "sam", "granted").result()
    assert not book.submit(book.must_ask, "sam").result()
    assert book.submit(book.recording, "sam").result()
    book.close()
    policy.write_text("version: 2\n", encoding="utf-8")
    newer = ConsentPolicy(2, "May I keep records (new words)?", text.audio_question, text.replies)
    book = RecordsBook(BookSettings(**{**settings.__dict__, "policy": newer}))
    assert book.submit(book.must_ask, "sam").result()
    assert not book.submit(book.recording, "sam").result()  # not until they agree to these
    book.close()


def test_spoken_requests_stop_recording_by_voice(tmp_path: Path) -> None:
    home = Home(tmp_path, consent="granted")
    wav = tmp_path / "spoken.wav"
    audio = conversation(0.5, "what time is it", 1.5, "stop recording", 1.5, "what is 2 plus 2", 1)
    write_wav(wav, audio.samples, audio.sample_rate)
    done = home.run("voice", "--input", str(wav), "--user", "vic", "--json")
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line)["text"] for line in done.stdout.splitlines()]
    assert any("stopped recording" in reply for reply in replies), replies
    assert [row["answer"] for row in home.rows("consents")] == ["withdrawn"]
    assert [row["intent"] for row in home.rows("turns")] == ["time"]  # before stopping only


def test_forget_leaves_no_byte_of_the_user_in_any_store(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.chat(
        "yes", f"my friend {PLANTED[0]} has the number {PLANTED[1]}", "add zucchini to my list"
    )
    home.chat("what's on my shopping list", user="bob")
    assert any(b"zucchini" in p.read_bytes() for p in home.files())  # it was there
    done = home.run("data", "forget", "--user", "alice")
    assert done.returncode == 0, done.stderr
    assert "turns: 2" in done.stdout and "consents: 1" in done.stdout, done.stdout
    for path in home.files():
        data = path.read_bytes()
        for planted in ("zucchini", *PLANTED):
            assert planted.encode() not in data, (path, planted)
    again = home.run("data", "forget", "--user", "alice")
    assert again.returncode != 0 and "nothing is kept about this user" in again.stderr


def test_audio_is_kept_only_with_its_own_yes(tmp_path: Path) -> None:
    settings = BookSettings(
        mode="ask", store_path=tmp_path / "records.sqlite", key_path=tmp_path / "key" / "k",
        policy=ConsentPolicy.load(), audio=True,
    )  # fmt: skip
    book = RecordsBook(settings)
    record = {"turn": 1, "input": "what time is it", "text": "It's noon."}
    book.submit(book.answer, "ana", "granted").result()
    book.keep("ana", "s1", record, {}, b"\x01\x00" * 800)
    book.submit(book.answer, "ana", "granted", "audio").result()
    book.keep("ana", "s1", {**record, "turn": 2}, {}, b"\x02\x00" * 800)
    turns = book.submit(book.store.turns).result()
    book.close()
    assert [(t.turn, t.audio is not None) for t in turns] == [(1, False), (2, True)]


def test_a_yes_to_records_asks_about_audio_when_audio_is_configured(tmp_path: Path) -> None:
    catalog = yaml.safe_load((ROOT / "models.yaml").read_text(encoding="utf-8"))
    catalog["records"]["consent"]["params"]["audio"] = True
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump(catalog), encoding="utf-8")
    home = Home(tmp_path)
    done = home.run("chat", "--models", str(models), "--user", "al", stdin="yes\nno\n")
    said = done.stdout.splitlines()
    assert said[1].endswith(ConsentPolicy.load().audio_question), said
    assert "won't keep any records" in said[2]  # the answer to the audio question
    answers = [(row["kind"], row["answer"]) for row in home.rows("consents")]
    assert answers == [("records", "granted"), ("audio", "declined")]


@pytest.fixture(scope="module")
def taught(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A user who consented, corrected a misunderstood phrasing three times, rated a reply
    and flagged another; then `assistant learn` ran."""
    home = Home(tmp_path_factory.mktemp("taught"), own_cache=True)
    home.chat(
        "yes", "add milk to my shopping list",
        "what's in my trolley", "no, I meant what's on my shopping list",
        "what's in my trolley", "no, I meant show my shopping list",
        "what's in my trolley", "no, I meant what's on my shopping list",
        f"my name is {PLANTED[0]} and my card is 4111 1111 1111 1111", "/bad",
        "what is 12 times 9", "that was helpful",
    )  # fmt: skip
    home.chat("yes", "tell me a joke", "/flag not funny", user="bob")
    done = home.run("learn")
    assert done.returncode == 0, done.stderr
    assert "-> kept" in done.stdout and "what's in my trolley" in done.stdout, done.stdout
    return home


def intent_of(home: Home, text: str) -> str:
    done = home.run("chat", "--once", text, "--json", "--user", "alice")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["intent"]["name"])


def test_learn_makes_a_corrected_phrasing_and_a_paraphrase_understood(taught: Home) -> None:
    assert intent_of(taught, "what's in my trolley") == "show_list"
    assert intent_of(taught, "what's in the trolley") == "show_list"


@pytest.mark.parametrize("fmt", ["sft", "kto", "dpo", "rasa-nlu"])
def test_exports_load_as_datasets_and_hold_no_personal_data(
    taught: Home, fmt: str, tmp_path: Path
) -> None:
    from datasets import load_dataset

    out = tmp_path / fmt
    done = taught.run("data", "export", "--format", fmt, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert (out / "README.md").is_file()
    data_files = sorted(out.glob("*.jsonl"))
    assert data_files, list(out.iterdir())
    text = "".join(p.read_text(encoding="utf-8") for p in out.iterdir())
    for planted in (*PLANTED, "4111 1111 1111 1111", "Dana"):
        assert planted not in text, (fmt, planted)
    assert "not funny" not in text and "tell me a joke" not in text  # bob flagged his
    dataset = load_dataset(
        "json", data_files=[str(p) for p in data_files], cache_dir=str(tmp_path / "hf")
    )["train"]
    assert len(dataset) >= 1
    again = taught.run("data", "export", "--format", fmt, "--out", str(out))
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1


def test_stats_print_counts_and_draw_a_plot(taught: Home, tmp_path: Path) -> None:
    plot = tmp_path / "stats.png"
    done = taught.run("data", "stats", "--plot", str(plot))
    assert done.returncode == 0, done.stderr
    assert "users 2" in done.stdout and "flags: 1" in done.stdout, done.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_requests_get_one_line_and_lose_nothing(taught: Home, tmp_path: Path) -> None:
    before = taught.records.read_bytes()
    unknown = taught.run("data", "export", "--format", "parquet", "--out", str(tmp_path / "x"))
    assert unknown.returncode == 2 and "unknown export format 'parquet'" in unknown.stderr
    nobody = taught.run("data", "forget", "--user", "nobody-like-this")
    assert nobody.returncode == 2 and len(nobody.stderr.strip().splitlines()) == 1
    assert taught.records.read_bytes() == before
    broken = Home(tmp_path / "broken")
    broken.records.parent.mkdir(parents=True)
    broken.records.write_bytes(b"this is not a database" * 100)
    done = broken.run("data", "stats")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert broken.records.read_bytes() == b"this is not a database" * 100


def test_forgetting_a_teacher_removes_what_they_taught(taught: Home) -> None:
    done = taught.run("data", "forget", "--user", "alice")
    assert done.returncode == 0, done.stderr
    assert "learned examples: 1" in done.stdout, done.stdout
    for path in [*taught.files(), *(taught.root / "cache").rglob("*")]:
        if path.is_file() and not path.is_symlink():
            assert b"trolley" not in path.read_bytes(), path


def test_a_browser_rating_reaches_the_records_of_a_consenting_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The /ws `feedback` message hands the rating to the pipeline's keepers, as here."""
    monkeypatch.setenv("ASSISTANT_RECORDS_CONSENT", "granted")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = ROOT / "pipelines" / "text.yaml"
    plan = plan_pipeline(
        load_pipeline(path), path, load_models(DEFAULT_MODELS), DEFAULT_MODELS,
        {"dst": "tracker-memory"},
    )  # fmt: skip

    async def scenario() -> None:
        async with Pipeline(plan) as pipeline:
            session = TextSession(pipeline, user="browser-user")
            await session.begin()
            await session.say("what is 2 plus 2")
            for keeper in pipeline.context.keepers:
                keeper.rate(session.session_id, 1, "down", "too slow")
            await session.end()
            session.close()

    asyncio.run(scenario())
    home = Home(tmp_path)
    assert [(r["turn"], r["kind"], r["comment"]) for r in home.rows("feedback")] == [
        (1, "bad", "too slow")
    ]
    assert [r["intent"] for r in home.rows("turns")] == ["calculate"]


def test_the_consent_question_leaves_a_rasa_conversation_start_rule_working(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path)
    done = home.run(
        "chat", "--skill", str(ROOT / "tests/data/rasa/corner_cafe"), "--user", "zed",
        stdin="yes\nhello\nhello\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2:] == [
        "Welcome to the Corner Cafe! What can I get you?",
        "Hello again!",
    ]


def test_turns_say_the_consent_question_waits_until_it_is_answered(tmp_path: Path) -> None:
    """While the question waits, every turn's Parse says so (the responder's "did you say
    ...?" step then asks nothing of its own, or one yes would answer both)."""
    home = Home(tmp_path)
    lines = ["what is 2 plus 2", "yes", "what is 3 plus 3"]
    done = home.run("chat", "--json", "--user", "wren", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    turns = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    said = [t for t in turns if t.get("input") in lines]
    assert [t["records"]["question_waiting"] for t in said] == [True, False, False]
    assert said[0]["text"] == "2 plus 2 is 4."  # answered meanwhile
