"""Planning a pipeline: which backend runs each stage, and whom each stage reads from.

`plan` resolves a pipeline's stages against the model catalog and checks the type graph
before any model loads; `assistant.core.runner` then starts what was planned.

Wiring rule: a stage takes each type it consumes from the nearest stage before it (or the
pipeline's input) that produces that type. That keeps a pipeline a readable ordered list while
the bus still allows fan-out: several stages may read the same upstream output. The rule is the
same for every type: the tone stage takes `Reply` from the responder and `Refusal` from the input
guard because it consumes both, so a refused request skips intent detection and dialogue but still
passes tone, filter and speech synthesis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.core.config import ModelSpec, StageRef, find_backend, validate_params
from assistant.core.errors import ConfigError
from assistant.core.message import Message
from assistant.core.registry import Registry
from assistant.core.stage import Stage, StageParams

INPUT = "input"
"""Sender name of whatever feeds the pipeline (terminal, microphone, WAV file)."""


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

    def origins(self) -> dict[str, frozenset[str]]:
        """For each stage (and the input), where a turn that reaches it may have begun: itself
        and every stage before it on the way from the input."""
        found: dict[str, frozenset[str]] = {INPUT: frozenset({INPUT})}
        for stage in self.stages:
            found[stage.name] = frozenset({stage.name}).union(
                *(found[sender] for sender in stage.senders)
            )
        return found

    @property
    def sinks(self) -> tuple[str, ...]:
        """The stages no other stage reads from: where a turn's `TurnEnd` leaves the pipeline
        (the input itself, for a pipeline of no stages)."""
        read = {sender for stage in self.stages for sender in stage.senders}
        return tuple(s.name for s in self.stages if s.name not in read) or (INPUT,)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(stage.kind for stage in self.stages)


@dataclass(frozen=True)
class PlanRequest:
    """What to plan: a pipeline file's stages and input, the catalog their models come from,
    the registry of backends, and `--set` overrides (stage name -> model)."""

    path: Path
    input_name: str  # how the pipeline file names its input, e.g. "text"
    input_type: type[Message]
    stages: Sequence[StageRef]
    catalog: Mapping[str, Mapping[str, ModelSpec]]
    models_path: Path
    registry: Registry
    overrides: Mapping[str, str] = field(default_factory=dict)
    skill_dirs: tuple[Path, ...] = ()


def plan(request: PlanRequest) -> PipelinePlan:
    """Resolve every stage's model and backend, validate its parameters and wire it, before any
    model loads. Every problem is a one-line `ConfigError` (a backend whose package is missing:
    `MissingModelError`, saying what to install)."""
    _check_names(request)
    produced: list[tuple[str, tuple[type[Message], ...]]] = [(INPUT, (request.input_type,))]
    planned: list[PlannedStage] = []
    for index, ref in enumerate(request.stages):
        stage = _plan_stage(request, index, ref, produced)
        planned.append(stage)
        produced.append((stage.name, stage.cls.produces))
    return PipelinePlan(
        name=request.path.stem,
        path=request.path,
        input_type=request.input_type,
        stages=tuple(planned),
        skill_dirs=request.skill_dirs,
    )


def _check_names(request: PlanRequest) -> None:
    names = [ref.stage_name for ref in request.stages]
    for stage_name in request.overrides:
        if stage_name not in names:
            raise ConfigError(
                f"--set {stage_name}=...: pipeline {request.path.stem!r} has no stage "
                f"{stage_name!r} (its stages: {', '.join(names)})"
            )
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(
            f"{request.path}: stages: {', '.join(sorted(duplicates))} appears twice; give each "
            "a 'name'"
        )


def _plan_stage(
    request: PlanRequest,
    index: int,
    ref: StageRef,
    produced: Sequence[tuple[str, tuple[type[Message], ...]]],
) -> PlannedStage:
    path = request.path
    model = request.overrides.get(ref.stage_name, ref.model)
    where = (
        f"--set {ref.stage_name}"
        if ref.stage_name in request.overrides
        else f"{path}: stages.{index}.model"
    )
    models = request.catalog.get(ref.kind, {})
    spec = models.get(model)
    if spec is None:
        raise ConfigError(
            f"{where}: unknown {ref.kind} model {model!r} (models of kind {ref.kind!r} in "
            f"{request.models_path}: {', '.join(models) or 'none'})"
        )
    params = validate_params(request.models_path, ref.kind, model, spec, request.registry)
    cls = find_backend(request.models_path, ref.kind, model, spec, request.registry).cls
    sources = _find_sources(cls, produced)
    if not sources:
        wanted = " or ".join(t.__name__ for t in cls.consumes)
        raise ConfigError(
            f"{path}: stages.{index} ({ref.stage_name}: {model}): consumes {wanted}, but "
            f"nothing before it produces that (the {request.input_name} input gives "
            f"{request.input_type.__name__})"
        )
    return PlannedStage(ref.stage_name, ref.kind, model, cls, params, sources)


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
