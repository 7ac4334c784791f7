"""What `assistant learn` needs from the product: the intent model of a pipeline, built on any
skill folders (the learning library knows no stages), and that pipeline's skill folders."""

from __future__ import annotations

from pathlib import Path

from assistant.config import (
    DEFAULT_MODELS,
    load_models,
    load_pipeline,
    resolve_pipeline_path,
    resolve_skill_dirs,
)
from assistant.core.config import find_backend, validate_params
from assistant.core.errors import ConfigError
from assistant.core.stage import StageContext
from assistant.learning.evaluate import DEFAULT_HELDOUT
from assistant.learning.learn import BuildModel, LearnResult, learn
from assistant.learning.rows import RecordStore
from assistant.stages import registry
from assistant.stages.nlu.classifier import IntentClassifierStage


def pipeline_skill_dirs(pipeline: str = "text") -> tuple[Path, ...]:
    """The skill folders of a pipeline (a name from pipelines/ or a path), learned ones included."""
    path = resolve_pipeline_path(pipeline)
    spec = load_pipeline(path)
    return resolve_skill_dirs(path, spec.skills, builtin_off=tuple(spec.builtin_skills_off))


def pipeline_nlu_model(pipeline: str = "text") -> str:
    spec = load_pipeline(resolve_pipeline_path(pipeline))
    for ref in spec.stages:
        if ref.kind == "nlu":
            return ref.model
    raise ConfigError(f"the {pipeline} pipeline has no nlu stage: nothing to learn for it")


def intent_model_builder(model: str, models_path: Path = DEFAULT_MODELS) -> BuildModel:
    """A function that trains the catalog's intent model `model` on given skill folders, as a
    pipeline's nlu stage does at start (a fitted model is kept in the cache, by its data)."""
    catalog = load_models(models_path)
    spec = catalog.get("nlu", {}).get(model)
    if spec is None:
        known = ", ".join(catalog.get("nlu", {})) or "none"
        raise ConfigError(f"{models_path}: no nlu model {model!r} (its nlu models: {known})")
    cls = find_backend(models_path, "nlu", model, spec, registry).cls
    if not issubclass(cls, IntentClassifierStage):
        raise ConfigError(f"nlu model {model!r} is no trained intent classifier: it cannot learn")
    params = validate_params(models_path, "nlu", model, spec, registry)

    def build(skill_dirs: tuple[Path, ...]) -> IntentClassifierStage:
        stage = cls(name="nlu", params=params, context=StageContext(skill_dirs=skill_dirs))
        stage.load()
        return stage

    return build


def learn_from_store(
    store: RecordStore,
    *,
    pipeline: str = "text",
    models_path: Path = DEFAULT_MODELS,
    model: str | None = None,
    heldout: Path = DEFAULT_HELDOUT,
    min_count: int = 1,
) -> LearnResult:
    """`assistant learn`: learn from every consented turn and feedback in the store for the
    intent model of `pipeline` (or the catalog's `model`); the learned folder is shared by all
    pipelines. Raises ConfigError, LearnError or HeldoutError with a one-line message."""
    build = intent_model_builder(model or pipeline_nlu_model(pipeline), models_path)
    return learn(
        store.turns(),
        store.feedback(),
        pipeline_skill_dirs(pipeline),
        build,
        heldout=heldout,
        min_count=min_count,
    )
