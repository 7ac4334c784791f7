"""The product's configuration files: the model catalog (`models.yaml`) and pipelines
(`pipelines/*.yaml`), where the defaults are, and the skill folders a pipeline names.

The machinery (YAML into pydantic, one-line errors, catalogs that extend each other) is the
core's (`assistant.core.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from assistant.core.config import (
    ModelSpec,
    StageRef,
    Strict,
    load_catalog,
    load_yaml_model,
)
from assistant.core.errors import ConfigError
from assistant.learning.paths import has_learned_skill, learned_skill_dir
from assistant.stages import registry

PACKAGE_DIR = Path(__file__).resolve().parent
BUILTIN_SKILLS_DIR = PACKAGE_DIR / "skills"


def _defaults_dir() -> Path:
    """Where the default models.yaml and pipelines/ live: the repository root for a development
    install, or the copy a wheel bundles inside the package."""
    bundled = PACKAGE_DIR / "defaults"
    return bundled if (bundled / "models.yaml").is_file() else PACKAGE_DIR.parent


DEFAULT_MODELS = _defaults_dir() / "models.yaml"
DEFAULT_PIPELINES = _defaults_dir() / "pipelines"


class PipelineSpec(Strict):
    description: str = ""
    input: Literal["text", "audio"]
    stages: list[StageRef] = Field(min_length=1)
    skills: list[str] = Field(default_factory=lambda: ["builtin"])
    # Built-in skills switched off by name (e.g. [shopping, units]); `builtin` brings the rest.
    builtin_skills_off: list[str] = Field(default_factory=list)
    # Who the assistant is (assistant/policies/persona.yaml): `default`, or a path to a persona
    # file, relative to the pipeline file. `--set persona=PATH` overrides it.
    persona: str = "default"


def load_models(path: Path = DEFAULT_MODELS) -> dict[str, dict[str, ModelSpec]]:
    """Read and validate the model catalog against the product's registry: its kinds and
    backend names (a model's parameters are checked when a pipeline uses it).

    A catalog may start with `extends: default` (the project's models.yaml) or `extends: PATH`
    (relative to the file): it then adds models to that catalog, or replaces models of the
    same name, instead of repeating it."""
    return load_catalog(path, registry, default=DEFAULT_MODELS)


def resolve_pipeline_path(name_or_path: str) -> Path:
    """`--pipeline` takes a name from pipelines/ (e.g. `text`) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return candidate
    path = DEFAULT_PIPELINES / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in DEFAULT_PIPELINES.glob("*.yaml"))
        raise ConfigError(
            f"--pipeline: no pipeline named {name_or_path!r} (known: {', '.join(known)}; "
            "or give a path to a .yaml file)"
        )
    return path


def load_pipeline(path: Path) -> PipelineSpec:
    return load_yaml_model(path, PipelineSpec)


def resolve_skill_dirs(
    pipeline_path: Path,
    entries: list[str],
    *,
    learned: bool = True,
    extra: tuple[Path, ...] = (),
    builtin_off: tuple[str, ...] = (),
) -> tuple[Path, ...]:
    """`builtin` means the skills shipped with the assistant (but those `builtin_off` names);
    other entries are skill folders (or folders of skill folders, or Rasa project folders),
    relative to the pipeline file. `extra` (`--skill PATH`) come next. The examples `assistant
    learn` kept (`learned_skill_dir()`) come last, in every pipeline, when there are any;
    `learned` false leaves them out (to measure the skills as shipped)."""
    dirs: list[Path] = []
    for entry in entries:
        if entry == "builtin":
            dirs.extend(_builtin_skills(pipeline_path, builtin_off))
            continue
        path = (pipeline_path.parent / entry).resolve()
        if not path.is_dir():
            raise ConfigError(f"{pipeline_path}: skills: {entry!r} is not a folder")
        dirs.append(path)
    for path in extra:
        if not path.is_dir():
            raise ConfigError(
                f"--skill {path}: not a folder; give a Rasa project folder (with domain.yml "
                "or domain/) or a skill folder"
            )
        dirs.append(path.resolve())
    if learned and has_learned_skill() and learned_skill_dir() not in dirs:
        dirs.append(learned_skill_dir())
    return tuple(dict.fromkeys(dirs))


def builtin_skill_names() -> list[str]:
    return sorted(p.name for p in BUILTIN_SKILLS_DIR.iterdir() if (p / "domain.yml").is_file())


def _builtin_skills(pipeline_path: Path, off: tuple[str, ...]) -> list[Path]:
    if not off:
        return [BUILTIN_SKILLS_DIR]
    known = builtin_skill_names()
    unknown = [name for name in off if name not in known]
    if unknown:
        raise ConfigError(
            f"{pipeline_path}: builtin_skills_off: no built-in skill {unknown[0]!r} "
            f"(built-in skills: {', '.join(known)})"
        )
    return [BUILTIN_SKILLS_DIR / name for name in known if name not in off]
