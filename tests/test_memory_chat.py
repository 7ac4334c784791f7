"""Per-user memory as a user meets it, through `assistant chat` on the real models, across
processes: the name, the preferred units and facts kept for one user and no other, used (the
greeting, conversions), recalled and forgotten; never in records or exported training data;
deleted by `assistant data forget`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from assistant.audio.wav import write_wav
from assistant.config import DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.runner import Pipeline
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession
from tests.conftest import ROOT
from tests.home import Home
from tests.speech import conversation

FACT = "remember that my sister's birthday is May 3"


@pytest.fixture(scope="module")
def sam(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, dict[str, list[str]]]:
    """Sam tells, comes back in a second process, forgets; Alex uses the same machine."""
    home = Home(tmp_path_factory.mktemp("memory"), consent="off")
    said = {"first": home.chat("my name is Sam", "I prefer metric", FACT, user="sam")}
    said["second"] = home.chat(
        "hi",
        "what's my name",
        "what do you remember about me",
        "convert 5 miles",
        "what's 70 degrees",
        "forget that",
        "what do you remember about me",
        user="sam",
    )
    said["kept"] = [home.state_bytes("memory.sqlite").decode("latin-1")]
    said["alex"] = home.chat(
        "hi", "what's my name", "what do you remember about me", "what's 70 degrees",
        "call me Alex", "use imperial units", "what's 20 degrees", user="alex",
    )  # fmt: skip
    said["forget"] = home.chat("forget everything about me", user="sam")
    said["third"] = home.chat(
        "hi", "what's my name", "what do you remember about me", "forget that", user="sam"
    )
    return home, said


def test_what_sam_said_is_kept_for_the_next_process(sam: tuple[Home, dict[str, list[str]]]) -> None:
    _, said = sam
    first, second = said["first"], said["second"]
    assert "Sam" in first[0] and "metric" in first[1]
    assert "your sister's birthday is May 3" in first[2]
    hi, name, recall, miles, degrees = second[:5]
    assert "Sam" in hi  # the greeting by name
    assert "Sam" in name
    assert "Sam" in recall and "metric" in recall and "sister's birthday is May 3" in recall
    assert miles.startswith("5 miles is 8.05 kilometers")  # no unit asked for: the preferred
    assert "70 degrees Fahrenheit is 21.11 degrees Celsius" in degrees


def test_forget_that_forgets_the_last_thing_and_nothing_of_it_stays(
    sam: tuple[Home, dict[str, list[str]]],
) -> None:
    _, said = sam
    forgot, recall = said["second"][5:]
    assert "forgotten that your sister's birthday is May 3" in forgot
    assert "May 3" not in recall and "Sam" in recall and "metric" in recall
    kept = said["kept"][0]
    assert "May 3" not in kept and "sister" not in kept and "Sam" in kept


def test_another_user_sees_nothing_of_sams(sam: tuple[Home, dict[str, list[str]]]) -> None:
    _, said = sam
    _, name, recall, degrees, _, imperial, warm = said["alex"]
    assert "Sam" not in " ".join(said["alex"])
    assert "don't know your name" in name
    assert "haven't been told anything about you" in recall
    assert "Celsius or Fahrenheit" in degrees  # no preference: bare degrees are ambiguous
    assert "imperial" in imperial
    assert "20 degrees Celsius is 68 degrees Fahrenheit" in warm


def test_forget_everything_and_a_third_process_knows_nothing(
    sam: tuple[Home, dict[str, list[str]]],
) -> None:
    home, said = sam
    assert "no longer remember your name" in said["forget"][0]
    _, name, recall, forget = said["third"]
    assert "Sam" not in " ".join(said["third"])
    assert "don't know your name" in name
    assert "haven't been told anything about you" in recall
    assert "nothing to forget" in forget
    memory = home.state_bytes("memory.sqlite")
    assert b"Sam" not in memory and b"metric" not in memory and b"imperial" in memory
    # The sessions' own dialogue state still holds what was said in them, until data forget
    # (records are off here: the memory store knows which sessions held Sam's memory).
    assert b"May 3" in home.state_bytes("trackers.sqlite")
    done = home.run("data", "forget", "--user", "sam")
    assert done.returncode == 0, done.stderr
    assert "memories: 0" in done.stdout and "tracker events:" in done.stdout
    trackers = home.state_bytes("trackers.sqlite")
    assert b"May 3" not in trackers and b"sister" not in trackers and b"Sam" not in trackers


def test_data_forget_deletes_a_users_memory(sam: tuple[Home, dict[str, list[str]]]) -> None:
    home, _ = sam
    done = home.run("data", "forget", "--user", "alex")
    assert done.returncode == 0, done.stderr
    assert "memories: 2" in done.stdout
    assert b"imperial" not in home.state_bytes("memory.sqlite")
    assert b"Alex" not in home.state_bytes("trackers.sqlite")
    again = home.run("data", "forget", "--user", "alex")
    assert again.returncode != 0 and "nothing is kept about this user" in again.stderr
    assert "Alex" not in home.chat("what's my name", user="alex")[0]


def test_memory_never_reaches_records_or_exports(tmp_path: Path) -> None:
    """With consent to records, the turns of the memory skill are not kept, and an export has
    nothing of what was remembered; "forget everything about me" forgets the records too."""
    home = Home(tmp_path, consent="granted")
    said = home.chat(
        "my name is Sam", FACT, "what do you remember about me", "hi", "what time is it",
        "add milk to my shopping list", user="sam",
    )  # fmt: skip
    assert "sister's birthday is May 3" in said[2] and "Sam" in said[3]
    out = tmp_path / "export"
    done = home.run("data", "export", "--format", "sft", "--out", str(out))
    assert done.returncode == 0, done.stderr
    exported = "".join(p.read_text() for p in out.iterdir())
    assert "milk" in exported  # the other turns are there
    for private in ("May 3", "sister", "Sam"):
        assert private not in exported
        assert private.encode() not in home.state_bytes("records.sqlite")
    forgot = home.chat("forget everything about me", user="sam")[0]
    assert "no longer remember your name" in forgot and "recorded turns" in forgot
    assert "milk" not in "".join(p.read_text() for p in out.glob("*.jsonl"))


def test_one_pipeline_keeps_each_connections_user_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `assistant serve` does: one started pipeline, conversations side by side, each with
    its user id. A user's memory follows them into a new conversation; another user's does not
    see it, even while both talk at once."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = ROOT / "pipelines" / "text.yaml"
    plan = plan_pipeline(
        load_pipeline(path), path, load_models(DEFAULT_MODELS), DEFAULT_MODELS,
        {"dst": "tracker-memory", "records": "records-off"},
    )  # fmt: skip

    async def talk(pipeline: Pipeline, user: str, *lines: str) -> list[str]:
        session = TextSession(pipeline, user=user)
        await session.begin()
        replies = [(await session.say(line)).text for line in lines]
        await session.end()
        session.close()
        return replies

    async def scenario() -> tuple[list[str], ...]:
        async with Pipeline(plan) as pipeline:
            sam, kim = await asyncio.gather(
                talk(pipeline, "sam", "call me Sam", "I prefer imperial", "what's my name"),
                talk(pipeline, "kim", "my name is Kim", "what do you remember about me"),
            )
            later = await asyncio.gather(
                talk(pipeline, "sam", "what do you remember about me", "convert 10 kilometers"),
                talk(pipeline, "lee", "what's my name"),
            )
            return sam, kim, *later

    sam, kim, sam_later, lee = asyncio.run(scenario())
    assert "Sam" in sam[2] and "Kim" not in " ".join(sam)
    assert "Kim" in kim[1] and "Sam" not in " ".join(kim) and "imperial" not in kim[1]
    assert "Sam" in sam_later[0] and "imperial" in sam_later[0] and "Kim" not in sam_later[0]
    assert sam_later[1].startswith("10 kilometers is 6.21 miles")
    assert "don't know your name" in lee[0]


def test_what_is_said_to_the_voice_pipeline_is_remembered_for_the_chat(tmp_path: Path) -> None:
    """`assistant voice --user` keeps memory for the same user as `assistant chat --user`."""
    home = Home(tmp_path, consent="off")
    wav = tmp_path / "spoken.wav"
    audio = conversation(0.5, "my name is Morgan", 1.5, "I prefer metric", 1)
    write_wav(wav, audio.samples, audio.sample_rate)
    done = home.run("voice", "--input", str(wav), "--user", "morgan", "--json")
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line)["text"] for line in done.stdout.splitlines()]
    assert any("Morgan" in reply for reply in replies), replies
    name, units = home.chat("what's my name", "convert 5 miles", user="morgan")
    assert "Morgan" in name and "kilometers" in units, (name, units)
