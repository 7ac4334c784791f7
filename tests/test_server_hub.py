"""The conversation hub on the real text pipeline: conversations of their own, turns of one
conversation in order, timers delivered to a listener or kept, bad ids and texts refused, a
clean close. The crash test uses the fake parser that raises (machinery, not a feature)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.message import stage_timing
from assistant.core.runner import Pipeline
from assistant.messages import Reply, Transcript
from assistant.pipeline import plan_pipeline
from assistant.server.hub import ConversationHub, HubBusy, HubClosed, HubError
from assistant.session import APOLOGY, TurnRecord, TurnRecorder
from tests.test_pipeline import make_plan

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


class Running:
    """A real text pipeline (in-memory tracker) and its hub, in one event loop for the module."""

    def __init__(self) -> None:
        path = ROOT / "pipelines" / "text.yaml"
        plan = plan_pipeline(
            load_pipeline(path),
            path,
            load_models(DEFAULT_MODELS),
            DEFAULT_MODELS,
            {"dst": "tracker-memory"},
        )
        self.loop = asyncio.new_event_loop()
        self.pipeline = Pipeline(plan)
        self.run(self.pipeline.start())
        self.hub = ConversationHub(self.pipeline)

    def run(self, coroutine: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.hub.close())
        self.run(self.pipeline.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    running = Running()
    yield running
    running.close()


def test_conversations_keep_their_own_lists(running: Running) -> None:
    hub = running.hub
    items = {"hub-a": "milk", "hub-b": "eggs", "hub-c": "coffee"}

    async def converse(conversation: str, item: str) -> str:
        await hub.say(conversation, f"add {item} to my shopping list")
        return (await hub.say(conversation, "what's on my shopping list")).text.lower()

    async def scenario() -> list[str]:
        return await asyncio.gather(*(converse(c, i) for c, i in items.items()))

    for (conversation, item), listed in zip(items.items(), running.run(scenario()), strict=True):
        assert item in listed, (conversation, listed)
        assert not any(other in listed for other in set(items.values()) - {item}), listed
    assert hub.active >= 3


def test_no_conversation_holds_the_records_of_answered_turns(running: Running) -> None:
    """Each session's recorder keeps its own turns until it hands them out, and never the
    other conversations' (it used to: memory grew with conversations x turns)."""
    hub = running.hub

    async def scenario() -> None:
        await asyncio.gather(*(hub.say(f"hub-mem-{i}", "what is 2 plus 2") for i in range(5)))

    running.run(scenario())
    held = {cid: len(c.session.recorder.turns) for cid, c in hub._conversations.items()}
    assert set(held.values()) == {0}, held


def test_a_message_coming_after_its_turn_was_handed_out_is_dropped(running: Running) -> None:
    """The tracker times the responder's update (its feedback input) outside the turn's
    markers, so that timing can come after the turn's record was taken (CI caught it)."""
    recorder = TurnRecorder(running.pipeline.plan, "late")
    recorder(Transcript(session_id="late", turn_id=1, text="hi"), "input")
    assert recorder.pop("late", 1).messages
    recorder(stage_timing("late", 1, "dst", "DialogueUpdate", 0.0, 0.001), "dst")
    assert recorder.turns == {}


def test_a_lent_conversation_is_refused_until_it_is_given_back(running: Running) -> None:
    hub = running.hub

    async def scenario() -> str:
        await hub.say("hub-lent", "add milk to my shopping list")
        assert await hub.lend("hub-lent", "a /ws connection") == []
        assert "hub-lent" not in hub._conversations  # ended: its dialogue is in the store
        with pytest.raises(HubBusy, match="open on a /ws connection"):
            await hub.say("hub-lent", "hello")
        with pytest.raises(HubBusy):
            await hub.lend("hub-lent", "another")
        hub.give_back("hub-lent")
        return (await hub.say("hub-lent", "what's on my shopping list")).text.lower()

    assert "milk" in running.run(scenario())


def test_turns_of_one_conversation_run_one_at_a_time_in_order(running: Running) -> None:
    hub = running.hub

    async def scenario() -> list[int]:
        records = await asyncio.gather(
            hub.say("hub-order", "what is 2 plus 2"),
            hub.say("hub-order", "what is 3 times 5"),
            hub.say("hub-order", "what is 10 minus 4"),
        )
        assert [r.text for r in records] == [
            "2 plus 2 is 4.",
            "3 times 5 is 15.",
            "10 minus 4 is 6.",
        ]
        return [r.turn_id for r in records]

    assert running.run(scenario()) == [1, 2, 3]


def test_a_timer_nobody_listens_to_is_kept_for_the_next_request(running: Running) -> None:
    hub = running.hub

    async def scenario() -> list[Reply]:
        record = await hub.say("hub-kept", "set a timer for 1 second")
        assert "timer" in record.text.lower(), record.text
        await asyncio.sleep(2.5)
        return hub.take_kept("hub-kept")

    (kept,) = running.run(scenario())
    assert kept.proactive and kept.session_id == "hub-kept"
    assert "timer is done" in kept.text, kept.text
    assert hub.take_kept("hub-kept") == []  # given once
    assert hub.take_kept("hub-kept-other") == []


def test_a_timer_goes_to_its_conversations_listener_only(running: Running) -> None:
    hub = running.hub
    heard: dict[str, list[Reply]] = {"hub-listen": [], "hub-quiet": []}

    async def scenario() -> None:
        hub.attach("hub-listen", heard["hub-listen"].append)
        hub.attach("hub-quiet", heard["hub-quiet"].append)
        await hub.say("hub-listen", "set a timer for 1 second")
        await hub.say("hub-quiet", "hello")
        await asyncio.sleep(2.5)

    running.run(scenario())
    hub.detach("hub-listen")
    hub.detach("hub-quiet")
    (reply,) = heard["hub-listen"]
    assert "timer is done" in reply.text and reply.session_id == "hub-listen"
    assert heard["hub-quiet"] == []
    assert hub.take_kept("hub-listen") == []  # delivered, so not kept too


def test_an_idle_conversation_is_ended_and_picks_up_where_it_was(running: Running) -> None:
    """Ended once idle (its state stays in the tracker's store), unless a timer still runs."""
    hub = ConversationHub(running.pipeline, idle_seconds=0.2)

    async def scenario() -> tuple[set[str], str]:
        await hub.say("idle-list", "add pears to my shopping list")
        await hub.say("idle-timer", "set a timer for 10 minutes")
        await asyncio.sleep(0.3)
        await hub.say("idle-new", "hello")  # a request sweeps the idle ones out
        await asyncio.sleep(0.1)
        left = set(hub._conversations)
        listed = await hub.say("idle-list", "what's on my shopping list")
        await hub.close()
        return left, listed.text.lower()

    left, listed = running.run(scenario())
    assert left == {"idle-timer", "idle-new"}
    assert "pears" in listed


@pytest.mark.parametrize(
    ("conversation", "text", "problem"),
    [
        ("", "hello", "conversation id is empty"),
        ("a" * 129, "hello", "longer than 128"),
        ("../etc/passwd", "hello", "may only contain"),
        ("hub ok", "hello", "may only contain"),
        ("hub-ok", "   ", "text is empty"),
        ("hub-ok", "x" * 10_001, "longer than 10000"),
    ],
)
def test_bad_ids_and_texts_are_refused_with_a_reason(
    running: Running, conversation: str, text: str, problem: str
) -> None:
    with pytest.raises(HubError, match=problem):
        running.run(running.hub.say(conversation, text))


def test_close_ends_conversations_and_refuses_new_turns(tmp_path: Path) -> None:
    """A stage that crashes gives that turn the apology and the next turn works; close waits for
    the running turn and refuses turns after it."""

    async def scenario() -> None:
        async with Pipeline(make_plan(tmp_path)) as pipeline:
            hub = ConversationHub(pipeline)
            crashed = await hub.say("crash", "boom now")
            assert crashed.text == APOLOGY
            assert [e.stage for e in crashed.errors] == ["test-nlu"]
            assert (await hub.say("crash", "hello")).text == "you said hello"
            running = asyncio.create_task(hub.say("other", "again"))
            await asyncio.sleep(0)
            await hub.close()
            assert running.done() and (await running).text == "you said again"
            assert hub.active == 0
            with pytest.raises(HubClosed):
                await hub.say("crash", "hello")

    asyncio.run(scenario())


CHITCHAT = [
    "what do you do for fun",
    "how have you been",
    "what's your favourite song",
    "do you have any hobbies",
    "what's your favourite animal",
    "my day was pretty rough",
]


def test_conversations_chatting_with_the_language_model_at_once(running: Running) -> None:
    """Both replies are written by the model; neither waits for the turn timeout (a streamed
    reply used to hold the model's lock between sentences, and the other conversation's
    reply then blocked the stage's only thread for good)."""
    hub = ConversationHub(running.pipeline, turn_timeout=30)

    async def scenario() -> list[TurnRecord]:
        records = await asyncio.gather(
            *(hub.say(f"gen-{i}", text) for i, text in enumerate(CHITCHAT)),
            *(hub.say(f"gen-{i}", "hello") for i in range(len(CHITCHAT), 10)),
        )
        records.append(await hub.say("gen-0", "do you like pizza"))
        await hub.close()
        return records

    records = running.run(scenario())
    assert not [r.session_id for r in records if r.timed_out]
    chatted = [*records[: len(CHITCHAT)], records[-1]]
    assert {r.reply.source if r.reply else None for r in chatted} == {"generation"}
