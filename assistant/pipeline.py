"""Planning the product's pipelines: a pipeline file's input (typed text or audio), its stages
against the model catalog and the built-in registry, and its skill folders."""

from __future__ import annotations

from pathlib import Path

from assistant.config import PipelineSpec, resolve_skill_dirs
from assistant.core.config import ModelSpec
from assistant.core.message import Message
from assistant.core.planner import PipelinePlan, PlanRequest, plan
from assistant.messages import AudioFrame, Transcript
from assistant.stages import registry

INPUT_TYPES: dict[str, type[Message]] = {"text": Transcript, "audio": AudioFrame}


def plan_pipeline(
    spec: PipelineSpec,
    path: Path,
    catalog: dict[str, dict[str, ModelSpec]],
    models_path: Path,
    overrides: dict[str, str] | None = None,
    extra_skills: tuple[Path, ...] = (),
) -> PipelinePlan:
    return plan(
        PlanRequest(
            path=path,
            input_name=spec.input,
            input_type=INPUT_TYPES[spec.input],
            stages=spec.stages,
            catalog=catalog,
            models_path=models_path,
            registry=registry,
            overrides=overrides or {},
            skill_dirs=resolve_skill_dirs(
                path,
                spec.skills,
                extra=extra_skills,
                builtin_off=tuple(spec.builtin_skills_off),
            ),
        )
    )
