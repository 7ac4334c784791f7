"""Turn-taking on the whole voice pipeline (pipelines/voice.yaml: Silero pauses judged by Smart
Turn, speculative ASR), on real models: a request with a hesitation in the middle is one turn,
two requests after a clear pause are two."""

from __future__ import annotations

import asyncio
import re

import pytest

from assistant.audio.wav import Audio
from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.core.runner import Pipeline
from assistant.messages import UtteranceAudio, UtteranceDraft
from assistant.pipeline import plan_pipeline
from assistant.session import TurnRecord
from assistant.voice import converse_file
from tests.speech import conversation
from tests.test_turn import HESITATION


def converse(audio: Audio) -> list[TurnRecord]:
    path = resolve_pipeline_path("voice")
    plan = plan_pipeline(
        load_pipeline(path), path, load_models(DEFAULT_MODELS), DEFAULT_MODELS,
        {"dst": "tracker-memory"},
    )  # fmt: skip
    assert next(s for s in plan.stages if s.kind == "vad").cls.backend == "smart-turn"

    async def scenario() -> list[TurnRecord]:
        async with Pipeline(plan) as pipeline:
            return (await converse_file(pipeline, audio)).records

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def hesitation() -> list[TurnRecord]:
    return converse(conversation(0.5, *HESITATION, 1.5))


def test_a_pause_in_the_middle_of_a_request_does_not_end_the_turn(
    hesitation: list[TurnRecord],
) -> None:
    (record,) = hesitation
    assert record.transcript is not None
    assert re.search(r"\b(10|ten) minutes", record.transcript.text.lower()), record.transcript
    assert record.parse is not None and record.parse.intent.name == "set_timer"
    assert "ten minute timer" in record.text.lower(), record.text


def test_the_drafts_of_a_hesitation_are_dropped_and_the_last_one_is_reused(
    hesitation: list[TurnRecord],
) -> None:
    (record,) = hesitation
    final = record.latest(UtteranceAudio)
    drafts = [d.pcm for d in record.of(UtteranceDraft)]
    assert final is not None and len(drafts) >= 2
    assert drafts[-1] == final.pcm and final.pcm not in drafts[:-1]
    assert len(record.of(UtteranceAudio)) == 1  # one utterance: nothing else was transcribed


def test_two_requests_after_a_clear_pause_are_two_turns() -> None:
    records = converse(
        conversation(0.5, "what time is it", 1.0, "set a timer for ten minutes", 1.5)
    )
    assert [r.parse.intent.name if r.parse else None for r in records] == [
        "time", "set_timer",
    ]  # fmt: skip
    assert "ten minute timer" in records[1].text.lower(), records[1].text


def test_a_request_cut_at_a_comma_is_withdrawn_and_heard_whole() -> None:
    """Smart Turn hears "Hello," (Piper's comma pause) as a finished turn; the speech that
    resumes at once withdraws that turn, and the next one hears the whole request. The turn
    before goes on: read faster than real time, it may not be answered yet when that happens."""
    records = converse(
        conversation(0.5, "what time is it", 1.0, "Hello, how are you doing today?", 1.5)
    )
    first, *withdrawn, last = records
    assert first.parse is not None and first.parse.intent.name == "time"
    assert not first.interrupted and first.text.startswith("It's"), first.text
    assert len(withdrawn) == 1 and withdrawn[0].interrupted and withdrawn[0].text == ""
    assert last.transcript is not None and not last.interrupted
    assert re.search(r"hello.*how are you doing today", last.transcript.text.lower())
    assert last.text.strip() and not last.errors


def test_a_bare_hesitation_judged_complete_still_sets_the_ten_minute_timer() -> None:
    """Piper's "set a timer for" alone ends on a falling tone and Smart Turn calls it finished;
    after 700 ms the pause is too long to rejoin, so it is a turn of its own: the timer form
    asks for the duration and the second turn gives it."""
    records = converse(conversation(0.5, "set a timer for", 0.7, "ten minutes", 1.5))
    assert len(records) == 2
    assert records[0].parse is not None and records[0].parse.intent.name == "set_timer"
    assert "ten minute timer" in records[1].text.lower(), [r.text for r in records]
