"""Planning the product's pipelines: a pipeline file's input (typed text or audio), its stages
against the model catalog and the built-in registry, its skill folders, and its persona."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from assistant.config import PipelineSpec, resolve_skill_dirs
from assistant.core.config import ModelSpec
from assistant.core.message import Message
from assistant.core.planner import PipelinePlan, PlannedStage, PlanRequest, plan
from assistant.messages import AudioFrame, Transcript
from assistant.persona import load_persona, resolve_persona
from assistant.stages import registry

INPUT_TYPES: dict[str, type[Message]] = {"text": Transcript, "audio": AudioFrame}
PERSONA = "persona"
"""`--set persona=PATH`: not a stage but who the assistant is (relative to the current folder)."""


def plan_pipeline(
    spec: PipelineSpec,
    path: Path,
    catalog: dict[str, dict[str, ModelSpec]],
    models_path: Path,
    overrides: dict[str, str] | None = None,
    extra_skills: tuple[Path, ...] = (),
) -> PipelinePlan:
    stage_overrides = dict(overrides or {})
    chosen = stage_overrides.pop(PERSONA, None)
    persona = (
        resolve_persona(chosen)
        if chosen is not None
        else resolve_persona(spec.persona, path.parent)
    )
    load_persona(persona)  # a mistake in it is reported now, before any model loads
    planned = plan(
        PlanRequest(
            path=path,
            input_name=spec.input,
            input_type=INPUT_TYPES[spec.input],
            stages=spec.stages,
            catalog=catalog,
            models_path=models_path,
            registry=registry,
            overrides=stage_overrides,
            skill_dirs=resolve_skill_dirs(
                path,
                spec.skills,
                extra=extra_skills,
                builtin_off=tuple(spec.builtin_skills_off),
            ),
        )
    )
    return replace(planned, stages=tuple(_with_persona(s, persona) for s in planned.stages))


def _with_persona(stage: PlannedStage, persona: Path) -> PlannedStage:
    """The pipeline's persona for a stage that speaks about or as the assistant (its parameters
    have `persona`), unless its catalog model names one itself."""
    params = stage.params
    if PERSONA not in type(params).model_fields or PERSONA in params.model_fields_set:
        return stage
    return replace(stage, params=params.model_copy(update={PERSONA: persona}))
