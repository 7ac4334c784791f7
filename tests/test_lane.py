"""Lanes run a message eagerly: in the publisher's task, as the lane's task, until the stage
first waits; then the lane's own task goes on with it (`assistant.core.lane`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from assistant.core.bus import Bus
from assistant.core.planner import INPUT, PlannedStage
from assistant.core.runner import StageRunner
from assistant.core.stage import Stage, StageContext, StageParams
from assistant.messages import Interrupt, Message, Reply, Transcript


class Probe(Stage):
    """Replies to each Transcript. "wait" sleeps first, "timeout" runs into an asyncio.timeout,
    "interrupt" says "before", lets a downstream stage interrupt its turn, then waits."""

    kind = "test"
    backend = "probe"
    consumes = (Transcript,)
    produces = (Reply,)
    tasks: ClassVar[list[tuple[str, asyncio.Task[object] | None]]] = []

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Transcript)
        text, turn = message.text, message.turn_id
        self.tasks.append((f"{text}:start", asyncio.current_task()))
        if text == "wait":
            await asyncio.sleep(0.01)
        elif text == "timeout":
            try:
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(1)
            except TimeoutError:
                text = "timed out"
        elif text == "interrupt":
            yield Reply(session_id=message.session_id, turn_id=turn, text="before")
            await asyncio.sleep(0.05)
        self.tasks.append((f"{text}:end", asyncio.current_task()))
        yield Reply(session_id=message.session_id, turn_id=turn, text=text)


class Interrupter(Stage):
    """Interrupts the turn of every "before" it hears, at once."""

    kind = "test"
    backend = "interrupter"
    consumes = (Reply,)
    produces = (Interrupt,)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        if isinstance(message, Reply) and message.text == "before":
            yield Interrupt(session_id=message.session_id, turn_id=message.turn_id)


def runner_of(bus: Bus, cls: type[Stage], source: tuple[type[Message], str]) -> StageRunner:
    stage = cls(name=cls.backend, params=StageParams(), context=StageContext())
    planned = PlannedStage(
        name=cls.backend, kind="test", model=cls.backend, cls=cls, params=stage.params,
        sources=(source,),
    )  # fmt: skip
    return StageRunner(stage, bus, planned, 16)


async def replies_to(*texts: str, interrupt_turn: int | None = None) -> list[str]:
    Probe.tasks = []
    bus = Bus()
    runners = [
        runner_of(bus, Probe, (Transcript, INPUT)),
        runner_of(bus, Interrupter, (Reply, "probe")),
    ]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    await asyncio.sleep(0)  # the runners wait on their empty inboxes
    replies: list[str] = []
    bus.observe(lambda m, s: replies.append(m.text) if isinstance(m, Reply) else None)
    for turn, text in enumerate(texts, 1):
        await bus.publish(Transcript(session_id="s", turn_id=turn, text=text), INPUT)
        if turn == interrupt_turn:  # no task switch since the stage began to wait
            await bus.publish(Interrupt(session_id="s", turn_id=turn), INPUT)
        await asyncio.wait_for(bus.join(), 2)  # each turn to an idle lane: run eagerly
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return replies


def test_a_stage_that_does_not_wait_is_done_when_publish_returns() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        Probe.tasks = []
        bus = Bus()
        task = asyncio.create_task(runner_of(bus, Probe, (Transcript, INPUT)).run())
        await asyncio.sleep(0)
        replies: list[str] = []
        bus.observe(lambda m, s: replies.append(m.text) if isinstance(m, Reply) else None)
        await bus.publish(Transcript(session_id="s", turn_id=1, text="hi"), INPUT)
        await asyncio.wait_for(bus.join(), 1)  # the conversation's lane is made, and waits
        await bus.publish(Transcript(session_id="s", turn_id=2, text="again"), INPUT)
        at_return = list(replies)  # no task switch since the publish began
        await asyncio.wait_for(bus.join(), 1)
        task.cancel()
        return at_return, replies

    assert asyncio.run(scenario()) == (["hi", "again"], ["hi", "again"])


def test_a_stage_that_waits_goes_on_as_one_task_the_lanes() -> None:
    """Begun in the publisher's task, the stage already runs as the lane's task: what binds to
    the current task (asyncio.timeout here, anyio's cancel scopes in httpx) still holds after
    its first wait, and a timeout cancels the stage, not its publisher."""
    replies = asyncio.run(replies_to("hi", "wait", "timeout", "next"))
    assert replies == ["hi", "wait", "timed out", "next"]
    _, _, (start, start_task), (end, end_task), *_ = Probe.tasks
    assert (start, end) == ("wait:start", "wait:end")
    assert start_task is end_task and start_task is not None
    assert start_task.get_name().startswith("stage-probe-s")


def test_an_interrupt_while_a_stage_runs_eagerly_cancels_it_where_it_first_waits() -> None:
    """The stage's own "before" makes the interrupter interrupt its turn while the stage still
    runs in the publisher's task: it cannot be cancelled there, so it is when it first waits.
    The turn's last reply never comes, and the next turn is answered. (The first turn makes
    both conversation lanes: a lane made for a message runs it in its own task.)"""
    assert asyncio.run(replies_to("hi", "interrupt", "next")) == ["hi", "before", "next"]
    assert [what for what, _ in Probe.tasks[2:]] == ["interrupt:start", "next:start", "next:end"]


def test_an_interrupt_before_the_lane_takes_up_a_waiting_stage_cancels_it() -> None:
    """Begun eagerly, the stage waits; the interrupt comes before the lane's task has gone on
    with it (no task switch between): the stage is cancelled where it waits."""
    assert asyncio.run(replies_to("hi", "wait", "next", interrupt_turn=2)) == ["hi", "next"]
    assert [what for what, _ in Probe.tasks[2:]] == ["wait:start", "next:start", "next:end"]
