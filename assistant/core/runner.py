"""Running a planned pipeline: stages loaded, one `StageRunner` per stage, one bus.

Each runner subscribes its stage to the types the plan wired it to and feeds it, publishing what
it yields and turning failures into `StageError` messages, so that one broken stage never ends
the session. Messages of one conversation are handled in order, on their own `Lane` task:
a stage busy with one conversation (waiting on a model, a slow answer) does not hold up another.
While the runner waits on an empty inbox, a published message goes straight into its lane, in
the publisher's task, and an idle lane runs it there and then until the stage first waits
(`assistant.core.lane`): no task switch for a hop through a stage that does not wait (the
runner's task handles only what queues: interrupts, and messages for a busy or full lane).

Markers (`TurnStart`, `TurnEnd`, `EndOfStream`) are passed on by every runner once every stage
it reads from has passed them, after the stage's `end_turn` / `end_stream` hook: since a marker
queues behind the messages before it, a `TurnEnd` leaving the last stage means the whole turn
is done there, for this conversation only.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator

from assistant.core.bus import Bus, Envelope, Senders, Subscription
from assistant.core.errors import StageLoadError
from assistant.core.lane import CONTROL_TYPES, Lane
from assistant.core.message import (
    Interrupt,
    Marker,
    Message,
    StageError,
    StageTiming,
    stage_timing,
)
from assistant.core.planner import PipelinePlan, PlannedStage
from assistant.core.stage import Stage, StageContext

log = logging.getLogger(__name__)


class StageRunner:
    """Feeds one stage from its inbox: each conversation's messages go to that conversation's
    lane; interrupts are handled at once."""

    def __init__(
        self,
        stage: Stage,
        bus: Bus,
        planned: PlannedStage,
        maxsize: int,
        origins: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.stage = stage
        self.name = stage.name
        self.bus = bus
        self.maxsize = maxsize
        self.senders = frozenset(planned.senders)
        # Where a turn that reaches each sender may have begun (see `PipelinePlan.origins`).
        self.origins = origins or {}
        routes: dict[type[Message], Senders] = {t: s for t, s in planned.sources}
        routes[Marker] = planned.senders
        routes.update({t: None for t in (*stage.feedback, *CONTROL_TYPES)})
        self.subscription: Subscription = bus.subscribe(
            stage.name, routes, maxsize=maxsize, on_interrupt=self._interrupt
        )
        self.lanes: dict[str, Lane] = {}
        # Lanes run in copies of the runner task's context, wherever they are created.
        self.context: contextvars.Context | None = None
        self.subscription.inbox.direct = self._direct
        stage.attach(lambda message: bus.publish(message, stage.name))

    def _direct(self, envelope: Envelope) -> bool:
        """The inbox is empty and `run` waits on it: hand the message to its lane at once, as
        `run` would, without waking `run` (a task switch per message saved). Interrupts, and
        messages for a lane that is full, queue in the inbox for `run`."""
        message = envelope.message
        if isinstance(message, Interrupt):
            return False
        lane = self.lanes.get(message.session_id)
        if lane is None:
            lane = self.lanes[message.session_id] = Lane(self, message.session_id)
        return lane.offer(envelope)

    def _interrupt(self, interrupt: Interrupt) -> None:
        lane = self.lanes.get(interrupt.session_id)
        if lane is not None:
            lane.interrupt(interrupt)

    async def run(self) -> None:
        inbox = self.subscription.inbox
        self.context = contextvars.copy_context()
        try:
            while True:
                envelope = await inbox.get()
                message = envelope.message
                if isinstance(message, Interrupt):
                    await self.control(message)
                    inbox.task_done()
                    continue
                lane = self.lanes.get(message.session_id)
                if lane is None:
                    lane = self.lanes[message.session_id] = Lane(self, message.session_id)
                await lane.put(envelope)
        finally:
            tasks = [lane.task for lane in self.lanes.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def control(self, message: Message) -> None:
        try:
            await self.stage.control(message)
        except Exception:
            log.exception("stage %s failed on a control message", self.stage.name)

    def senders_of(self, origin: str) -> frozenset[str]:
        """The senders a turn begun at `origin` comes through."""
        return frozenset(s for s in self.senders if origin in self.origins.get(s, (origin,)))

    async def publish(self, message: Message) -> None:
        await self.bus.publish(message, self.stage.name)

    async def process(self, message: Message) -> None:
        """Feed a data message to the stage and publish what it yields, then its timing. The
        bus's `offer` delivers without a coroutine when every inbox has room."""
        bus, name = self.bus, self.name
        started = time.monotonic()
        try:
            async for output in self.stage.process(message):
                pending = bus.offer(output, name)
                if pending is not None:
                    await bus.deliver(pending)
        except Exception as exc:
            await self.failed(exc, message)
        if not bus.heard(StageTiming, name):
            return  # nothing traces or records this pipeline (a benchmark's chain)
        finished = time.monotonic()
        timing = stage_timing(
            message.session_id, message.turn_id, name, type(message).__name__, started, finished
        )
        pending = bus.offer(timing, name)
        if pending is not None:
            await bus.deliver(pending)

    async def publish_outputs(self, outputs: AsyncIterator[Message], cause: Message) -> None:
        """Publish what the stage yields for `cause`; a failure becomes a `StageError`."""
        try:
            async for output in outputs:
                await self.bus.publish(output, self.name)
        except Exception as exc:
            await self.failed(exc, cause)

    async def failed(self, exc: Exception, cause: Message) -> None:
        log.debug("stage %s failed", self.name, exc_info=True)
        await self.publish(
            StageError(
                session_id=cause.session_id,
                turn_id=cause.turn_id,
                stage=self.name,
                consumed=type(cause).__name__,
                error_type=type(exc).__name__,
                detail=str(exc) or type(exc).__name__,
            )
        )


class Pipeline:
    """A started pipeline: stages loaded, one runner task per stage, all joined by one bus."""

    def __init__(
        self,
        plan: PipelinePlan,
        *,
        bus: Bus | None = None,
        maxsize: int = 16,
        context: StageContext | None = None,
    ) -> None:
        self.plan = plan
        self.bus = bus or Bus(default_maxsize=maxsize)
        self.context = context or StageContext(skill_dirs=plan.skill_dirs)
        self.stages = [
            p.cls(name=p.name, params=p.params, context=self.context) for p in plan.stages
        ]
        origins = plan.origins()
        self.runners = [
            StageRunner(stage, self.bus, planned, maxsize, origins)
            for stage, planned in zip(self.stages, plan.stages, strict=True)
        ]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, *, prefetch: bool = True) -> None:
        """Load every stage's models (one at a time: the machine has two cores, and loading in
        parallel mostly fights over them), then start the runners. What stages prefetch begins
        to load in the background then, while the user starts to speak or type (begun before,
        it slowed the stages' loading down on two cores); without `prefetch` (a one-shot run)
        it loads when a turn first needs it, and a run that never needs it neither loads it nor
        waits for it."""
        for stage, planned in zip(self.stages, self.plan.stages, strict=True):
            try:
                await stage.start()
            except Exception as exc:
                # What loads in the background must finish before the error ends the process.
                for loading in self.stages:
                    await loading.settle()
                raise StageLoadError(
                    f"stage {stage.name} ({planned.kind} model {planned.model!r}, backend "
                    f"{planned.cls.backend}) could not start: {exc}"
                ) from exc
        self._tasks = [
            asyncio.create_task(runner.run(), name=f"stage-{runner.stage.name}")
            for runner in self.runners
        ]
        if prefetch:
            for stage in self.stages:
                stage.prefetch()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for stage in self.stages:
            await stage.stop()

    async def __aenter__(self) -> Pipeline:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
