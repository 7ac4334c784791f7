"""Many conversations on one pipeline: each owns its turns, and none waits on another's work."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.runner import Pipeline
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession, TurnRecord
from tests import fakes  # noqa: F401  (registers the fake stages)
from tests.test_pipeline import make_plan

ROOT = Path(__file__).resolve().parents[1]


def test_a_stage_slow_for_one_session_does_not_delay_another(tmp_path: Path) -> None:
    """The fake parser takes 30 s over 'slow ...': B's turn is stuck there while A's turns go
    through the same stage and come back."""

    async def scenario() -> tuple[list[TurnRecord], bool]:
        async with Pipeline(make_plan(tmp_path)) as pipeline:
            a, b = TextSession(pipeline), TextSession(pipeline, turn_timeout=60)
            await a.begin()
            await b.begin()
            stuck = asyncio.create_task(b.say("slow one"))
            await asyncio.sleep(0.05)  # B's message is in the parser now
            records = [await a.say("hello"), await a.say("again")]
            still_stuck = not stuck.done()
            stuck.cancel()
            return records, still_stuck

    records, still_stuck = asyncio.run(scenario())
    assert [r.text for r in records] == ["you said hello", "you said again"]
    assert still_stuck


ITEMS = ["milk", "eggs", "bread", "apples", "coffee", "rice", "butter", "tea", "onions", "cheese"]


def test_fifty_interleaved_sessions_each_keep_their_own_replies_slots_lists_and_timers() -> None:
    path = ROOT / "pipelines" / "text.yaml"
    catalog = load_models(DEFAULT_MODELS)
    plan = plan_pipeline(
        load_pipeline(path), path, catalog, DEFAULT_MODELS, {"dst": "tracker-memory"}
    )

    async def converse(session: TextSession, index: int) -> list[TurnRecord]:
        await session.begin()
        item, minutes = ITEMS[index % len(ITEMS)], index + 1
        records = [
            await session.say(f"add {item} to my shopping list"),
            await session.say(f"set a timer for {minutes} minutes"),
            await session.say("what's on my shopping list"),
        ]
        return records

    async def scenario() -> list[tuple[TextSession, list[TurnRecord]]]:
        async with Pipeline(plan) as pipeline:
            sessions = [TextSession(pipeline) for _ in range(50)]
            results = await asyncio.gather(*(converse(s, i) for i, s in enumerate(sessions)))
            return list(zip(sessions, results, strict=True))

    for index, (session, (added, timer, listed)) in enumerate(asyncio.run(scenario())):
        item, minutes = ITEMS[index % len(ITEMS)], index + 1
        assert {r.session_id for r in (added, timer, listed)} == {session.session_id}
        assert [r.turn_id for r in (added, timer, listed)] == [1, 2, 3]
        assert item in listed.text.lower(), listed.text
        others = set(ITEMS) - {item}
        assert not any(other in listed.text.lower() for other in others), listed.text
        assert listed.state is not None
        assert listed.state.slot("shopping_list") == [item]
        assert timer.state is not None and timer.state.slot("duration") == minutes * 60
        (reminder,) = session.pending_reminders()  # its own timer, and only that one
        left = reminder.trigger_at - time.time()
        assert minutes * 60 - 120 < left <= minutes * 60, (minutes, left)


def test_a_session_keeps_no_record_of_other_sessions_turns(tmp_path: Path) -> None:
    """Every session observes the shared bus; its recorder must keep only its own turns, or a
    long conversation would hold every other conversation's (their audio too, in voice)."""

    async def scenario() -> tuple[int, int]:
        async with Pipeline(make_plan(tmp_path)) as pipeline:
            a, b = TextSession(pipeline), TextSession(pipeline)
            await a.begin()
            await b.begin()
            for _ in range(5):
                await b.say("hello")
            await a.say("hi")
            return len(a.recorder.turns), len(b.recorder.turns)

    assert asyncio.run(scenario()) == (0, 0)
