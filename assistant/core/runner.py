"""Running a planned pipeline: stages loaded, one `StageRunner` task per stage, one bus.

Each runner subscribes its stage to the types the plan wired it to, feeds it from its inbox,
publishes what it yields, and turns failures into `StageError` messages so that one broken stage
never ends the session.
"""

from __future__ import annotations

import asyncio
import logging
import time

from assistant.core.bus import Bus, Senders, Subscription
from assistant.core.errors import StageLoadError
from assistant.core.message import (
    Interrupt,
    Message,
    SessionEnd,
    SessionStart,
    StageError,
    StageTiming,
)
from assistant.core.planner import PipelinePlan, PlannedStage
from assistant.core.stage import Stage, StageContext

log = logging.getLogger(__name__)

CONTROL_TYPES: tuple[type[Message], ...] = (SessionStart, SessionEnd, Interrupt)


class StageRunner:
    """Feeds one stage from its inbox, publishes what it yields, and turns failures into
    `StageError` messages so that one broken stage never ends the session."""

    def __init__(self, stage: Stage, bus: Bus, planned: PlannedStage, maxsize: int) -> None:
        self.stage = stage
        self.bus = bus
        routes: dict[type[Message], Senders] = {t: s for t, s in planned.sources}
        routes.update({t: None for t in (*stage.feedback, *CONTROL_TYPES)})
        self.subscription: Subscription = bus.subscribe(
            stage.name, routes, maxsize=maxsize, on_interrupt=self._interrupt
        )
        self._task: asyncio.Task[None] | None = None
        self._current_message: Message | None = None
        self._interrupting = False
        stage.attach(lambda message: bus.publish(message, stage.name))

    def _interrupt(self, interrupt: Interrupt) -> None:
        """Cancel the work in flight if it belongs to an interrupted turn. The stage runs inside
        the runner's own task (a task per message would cost more than the work of a light
        stage), so the runner's task is cancelled and `run` takes the cancellation back."""
        message = self._current_message
        if (
            self._task is not None
            and not self._interrupting
            and message is not None
            and message.session_id == interrupt.session_id
            and message.turn_id <= interrupt.turn_id
        ):
            self._interrupting = True
            self._task.cancel()

    async def run(self) -> None:
        self._task = asyncio.current_task()
        inbox = self.subscription.inbox
        while True:
            envelope = await inbox.get()
            message = envelope.message
            try:
                if isinstance(message, CONTROL_TYPES):
                    await self.stage.control(message)
                else:
                    self._current_message = message
                    await self._process(message)
            except asyncio.CancelledError:
                if not self._interrupting:
                    raise
                log.debug("stage %s: turn %s interrupted", self.stage.name, message.turn_id)
            except Exception:
                log.exception("stage %s failed on a control message", self.stage.name)
            finally:
                self._current_message = None
                inbox.task_done()
            if self._interrupting:
                self._interrupting = False
                assert self._task is not None
                if self._task.uncancel() > 0:  # a stop() came too: end the runner
                    raise asyncio.CancelledError

    async def _process(self, message: Message) -> None:
        name = self.stage.name
        started = time.monotonic()
        try:
            async for output in self.stage.process(message):
                await self.bus.publish(output, name)
        except Exception as exc:
            log.debug("stage %s failed", name, exc_info=True)
            await self.bus.publish(
                StageError(
                    session_id=message.session_id,
                    turn_id=message.turn_id,
                    stage=name,
                    consumed=type(message).__name__,
                    error_type=type(exc).__name__,
                    detail=str(exc) or type(exc).__name__,
                ),
                name,
            )
        await self.bus.publish(
            StageTiming(
                session_id=message.session_id,
                turn_id=message.turn_id,
                stage=name,
                consumed=type(message).__name__,
                started=started,
                finished=time.monotonic(),
            ),
            name,
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
        self.runners = [
            StageRunner(stage, self.bus, planned, maxsize)
            for stage, planned in zip(self.stages, plan.stages, strict=True)
        ]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Load every stage's models (one at a time: the machine has two cores, and loading in
        parallel mostly fights over them), then start the runners."""
        for stage, planned in zip(self.stages, self.plan.stages, strict=True):
            try:
                await stage.start()
            except Exception as exc:
                raise StageLoadError(
                    f"stage {stage.name} ({planned.kind} model {planned.model!r}, backend "
                    f"{planned.cls.backend}) could not start: {exc}"
                ) from exc
        self._tasks = [
            asyncio.create_task(runner.run(), name=f"stage-{runner.stage.name}")
            for runner in self.runners
        ]

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
