"""Building and running a pipeline.

`plan_pipeline` resolves a pipeline file against the model catalog and checks the type graph
before any model loads. `Pipeline` instantiates the stages, wires each one to the bus and runs a
`StageRunner` task per stage.

Wiring rule: a stage takes each type it consumes from the nearest stage before it (or the
pipeline's input) that produces that type. That keeps a pipeline a readable ordered list while
the bus still allows fan-out: several stages may read the same upstream output. The rule is the
same for every type: the tone stage takes `Reply` from the responder and `Refusal` from the input
guard because it consumes both, so a refused request skips intent detection and dialogue but still
passes tone, filter and speech synthesis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.bus import Bus, Senders, Subscription
from assistant.config import (
    ConfigError,
    ModelSpec,
    PipelineSpec,
    resolve_skill_dirs,
    validate_params,
)
from assistant.messages import (
    AudioFrame,
    Interrupt,
    Message,
    SessionEnd,
    SessionStart,
    StageError,
    StageTiming,
    Transcript,
)
from assistant.stage import Stage, StageContext, StageParams, registry

log = logging.getLogger(__name__)

INPUT = "input"
"""Sender name of whatever feeds the pipeline (terminal, microphone, WAV file)."""

INPUT_TYPES: dict[str, type[Message]] = {"text": Transcript, "audio": AudioFrame}
CONTROL_TYPES: tuple[type[Message], ...] = (SessionStart, SessionEnd, Interrupt)


@dataclass(frozen=True)
class PlannedStage:
    name: str
    kind: str
    model: str
    cls: type[Stage]
    params: StageParams
    sources: tuple[tuple[type[Message], str], ...]  # each consumed type that has a producer,
    # and the stage (or input) it is taken from

    @property
    def inputs(self) -> tuple[type[Message], ...]:
        return tuple(kind for kind, _ in self.sources)

    @property
    def upstream(self) -> str:
        """The nearest stage it reads anything from."""
        return self.senders[-1]

    @property
    def senders(self) -> tuple[str, ...]:
        """Every stage (or input) it reads from, in pipeline order (`sources` is kept so)."""
        return tuple(dict.fromkeys(sender for _, sender in self.sources))


@dataclass(frozen=True)
class PipelinePlan:
    name: str
    path: Path
    input_type: type[Message]
    stages: tuple[PlannedStage, ...]
    skill_dirs: tuple[Path, ...]

    def last_producer(self, kind: type[Message]) -> str | None:
        """The stage whose output of this type leaves the pipeline (None: nothing produces it)."""
        for stage in reversed(self.stages):
            if kind in stage.cls.produces:
                return stage.name
        return INPUT if kind is self.input_type else None

    def final_producers(self, *kinds: type[Message]) -> tuple[str, ...]:
        """The stages whose output of these types leaves the pipeline: the last producer of
        each (a stage that only renders it, as TTS speaks a Reply, does not count)."""
        found = (self.last_producer(kind) for kind in kinds)
        return tuple(dict.fromkeys(name for name in found if name is not None))

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(stage.kind for stage in self.stages)


def plan_pipeline(
    spec: PipelineSpec,
    path: Path,
    catalog: dict[str, dict[str, ModelSpec]],
    models_path: Path,
    overrides: dict[str, str] | None = None,
) -> PipelinePlan:
    overrides = dict(overrides or {})
    names = [ref.stage_name for ref in spec.stages]
    for stage_name in overrides:
        if stage_name not in names:
            raise ConfigError(
                f"--set {stage_name}=...: pipeline {path.stem!r} has no stage {stage_name!r} "
                f"(its stages: {', '.join(names)})"
            )
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(
            f"{path}: stages: {', '.join(sorted(duplicates))} appears twice; give each a 'name'"
        )

    input_type = INPUT_TYPES[spec.input]
    produced: list[tuple[str, tuple[type[Message], ...]]] = [(INPUT, (input_type,))]
    planned: list[PlannedStage] = []
    for index, ref in enumerate(spec.stages):
        overridden = ref.stage_name in overrides
        model = overrides.get(ref.stage_name, ref.model)
        where = f"--set {ref.stage_name}" if overridden else f"{path}: stages.{index}.model"
        models = catalog.get(ref.kind, {})
        model_spec = models.get(model)
        if model_spec is None:
            raise ConfigError(
                f"{where}: unknown {ref.kind} model {model!r} (models of kind {ref.kind!r} in "
                f"{models_path}: {', '.join(models) or 'none'})"
            )
        params = validate_params(models_path, ref.kind, model, model_spec)
        backend = registry.get(ref.kind, model_spec.backend)
        assert backend is not None  # validate_params checked it
        cls = backend.cls
        sources = _find_sources(cls, produced)
        if not sources:
            wanted = " or ".join(t.__name__ for t in cls.consumes)
            raise ConfigError(
                f"{path}: stages.{index} ({ref.stage_name}: {model}): consumes {wanted}, but "
                f"nothing before it produces that (the {spec.input} input gives "
                f"{input_type.__name__})"
            )
        planned.append(PlannedStage(ref.stage_name, ref.kind, model, cls, params, sources))
        produced.append((ref.stage_name, cls.produces))

    return PipelinePlan(
        name=path.stem,
        path=path,
        input_type=input_type,
        stages=tuple(planned),
        skill_dirs=resolve_skill_dirs(path, spec.skills),
    )


def _find_sources(
    cls: type[Stage], produced: Sequence[tuple[str, tuple[type[Message], ...]]]
) -> tuple[tuple[type[Message], str], ...]:
    """For each type `cls` consumes, the nearest earlier producer of it (none: left out),
    ordered by where the producers stand in the pipeline."""
    found: list[tuple[int, type[Message], str]] = []
    for kind in cls.consumes:
        for index in range(len(produced) - 1, -1, -1):
            sender, types = produced[index]
            if any(issubclass(p, kind) for p in types):
                found.append((index, kind, sender))
                break
    return tuple((kind, sender) for _, kind, sender in sorted(found, key=lambda f: f[0]))


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


class StageLoadError(RuntimeError):
    """A stage could not load its model or data; the message says which stage and why."""


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
