"""StageRunner: each conversation in order in its own lane, handed over without waking the runner
when it waits, backpressure, interrupts, and one StageTiming per message."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from assistant.core.bus import Bus
from assistant.core.message import StageTiming, stage_timing
from assistant.core.planner import INPUT, PlannedStage
from assistant.core.runner import StageRunner
from assistant.core.stage import Stage, StageContext, StageParams
from assistant.messages import Interrupt, Message, Reply, Transcript


@dataclass
class Gates:
    """What the stage waits on, per text; what it saw."""

    open: dict[str, asyncio.Event] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    control_gate: asyncio.Event | None = None
    contexts: list[str] = field(default_factory=list)


WHERE = contextvars.ContextVar("where", default="unset")


class Gated(Stage):
    """Replies to each Transcript with its text, after its gate opens (if it has one)."""

    kind = "test"
    backend = "gated"
    consumes = (Transcript,)
    produces = (Reply,)
    gates = Gates()

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Transcript)
        self.gates.seen.append(message.text)
        self.gates.contexts.append(WHERE.get())
        gate = self.gates.open.get(message.text)
        if gate is not None:
            await gate.wait()
        yield Reply(session_id=message.session_id, turn_id=message.turn_id, text=message.text)

    async def control(self, message: Message) -> None:
        self.gates.controls.append(type(message).__name__)
        if self.gates.control_gate is not None:
            await self.gates.control_gate.wait()


def said(turn: int, text: str, session: str = "s") -> Transcript:
    return Transcript(session_id=session, turn_id=turn, text=text)


async def started(maxsize: int = 16) -> tuple[Bus, StageRunner, asyncio.Task[None]]:
    Gated.gates = Gates()
    bus = Bus(default_maxsize=maxsize)
    stage = Gated(name="gated", params=StageParams(), context=StageContext())
    planned = PlannedStage(
        name="gated", kind="test", model="gated", cls=Gated, params=stage.params,
        sources=((Transcript, INPUT),),
    )
    runner = StageRunner(stage, bus, planned, maxsize)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0)  # the runner waits on its empty inbox
    return bus, runner, task


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_messages_keep_their_order_through_a_full_lane_and_a_full_inbox() -> None:
    """Past the lane's room messages queue in the inbox for the runner, and past that the
    publisher waits: nothing is lost or reordered when the direct hand-over cannot take one."""

    async def scenario() -> list[str]:
        bus, runner, task = await started(maxsize=2)
        replies: list[str] = []
        bus.observe(lambda m, s: replies.append(m.text) if isinstance(m, Reply) else None)
        gate = Gated.gates.open["0"] = asyncio.Event()

        async def publish_all() -> None:
            for i in range(12):
                await bus.publish(said(1, str(i)), INPUT)

        publishing = asyncio.create_task(publish_all())
        await asyncio.sleep(0.05)
        assert not publishing.done(), "a stuck stage holds its publisher back"
        assert len(runner.lanes["s"].queue) == 2 and len(runner.subscription.inbox) >= 1
        gate.set()
        await asyncio.wait_for(publishing, 1)
        await asyncio.wait_for(bus.join(), 1)
        await stopped(task)
        return replies

    assert asyncio.run(scenario()) == [str(i) for i in range(12)]


def test_a_slow_conversation_does_not_hold_up_another() -> None:
    async def scenario() -> list[str]:
        bus, _, task = await started()
        Gated.gates.open["slow"] = asyncio.Event()
        await bus.publish(said(1, "slow", session="a"), INPUT)
        await bus.publish(said(1, "quick", session="b"), INPUT)
        await asyncio.sleep(0.05)
        seen = list(Gated.gates.seen)
        Gated.gates.open["slow"].set()
        await asyncio.wait_for(bus.join(), 1)
        await stopped(task)
        return seen

    assert asyncio.run(scenario()) == ["slow", "quick"]


def test_an_interrupt_cancels_the_message_in_flight_and_the_next_one_goes_through() -> None:
    async def scenario() -> list[str]:
        bus, _, task = await started()
        replies: list[str] = []
        bus.observe(lambda m, s: replies.append(m.text) if isinstance(m, Reply) else None)
        Gated.gates.open["stuck"] = asyncio.Event()  # never opened
        await bus.publish(said(1, "stuck"), INPUT)
        await asyncio.sleep(0.01)
        await bus.publish(Interrupt(session_id="s", turn_id=1), INPUT)
        await bus.publish(said(2, "after"), INPUT)
        await asyncio.wait_for(bus.join(), 1)
        await stopped(task)
        return replies

    assert asyncio.run(scenario()) == ["after"]


def test_messages_wait_while_the_runner_handles_an_interrupt() -> None:
    """The direct hand-over happens only while the runner waits on its inbox: a message that
    comes while the stage's control reacts to an interrupt reaches its lane after it."""

    async def scenario() -> tuple[list[str], list[str]]:
        bus, _, task = await started()
        Gated.gates.control_gate = asyncio.Event()
        await bus.publish(Interrupt(session_id="s", turn_id=0), INPUT)
        await asyncio.sleep(0.01)  # the runner is inside control(Interrupt)
        await bus.publish(said(1, "meanwhile"), INPUT)
        await asyncio.sleep(0.01)
        before = list(Gated.gates.seen)
        Gated.gates.control_gate.set()
        await asyncio.wait_for(bus.join(), 1)
        await stopped(task)
        return before, Gated.gates.seen

    assert asyncio.run(scenario()) == ([], ["meanwhile"])


def test_each_message_handled_publishes_its_timing() -> None:
    async def scenario() -> list[StageTiming]:
        bus, _, task = await started()
        timings: list[StageTiming] = []
        bus.observe(lambda m, s: timings.append(m) if isinstance(m, StageTiming) else None)
        for i in range(3):
            await bus.publish(said(i, str(i)), INPUT)
        await asyncio.wait_for(bus.join(), 1)
        await stopped(task)
        return timings

    timings = asyncio.run(scenario())
    assert [(t.stage, t.consumed, t.turn_id) for t in timings] == [
        ("gated", "Transcript", i) for i in range(3)
    ]
    assert all(t.started <= t.finished == t.timestamp for t in timings)


def test_stage_timing_builds_the_same_message_as_the_constructor() -> None:
    built = stage_timing("s", 3, "nlu", "Transcript", 1.5, 2.5)
    assert built == StageTiming(
        session_id="s", turn_id=3, stage="nlu", consumed="Transcript", started=1.5,
        finished=2.5, timestamp=2.5,
    )
    assert repr(built).startswith("StageTiming(session_id='s', turn_id=3")


def test_a_lane_runs_in_the_runner_context_whoever_hands_it_a_message() -> None:
    async def scenario() -> list[str]:
        WHERE.set("runner")
        bus, _, task = await started()
        publisher = contextvars.copy_context()
        publisher.run(WHERE.set, "publisher")
        message = said(1, "x", session="new")
        await asyncio.create_task(bus.publish(message, INPUT), context=publisher)
        await asyncio.wait_for(bus.join(), 1)
        await stopped(task)
        return Gated.gates.contexts

    assert asyncio.run(scenario()) == ["runner"]
