"""Configuration files: the model catalog (`models.yaml`) and pipelines (`pipelines/*.yaml`).

Both are validated with pydantic once, at start-up. Every problem is reported as a `ConfigError`
whose message is one line: the file, the key, and what was expected.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, TypeVar, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.stage import StageParams, registry

PACKAGE_DIR = Path(__file__).resolve().parent
BUILTIN_SKILLS_DIR = PACKAGE_DIR / "skills"


def _defaults_dir() -> Path:
    """Where the default models.yaml and pipelines/ live: the repository root for a development
    install, or the copy a wheel bundles inside the package."""
    bundled = PACKAGE_DIR / "defaults"
    return bundled if (bundled / "models.yaml").is_file() else PACKAGE_DIR.parent


DEFAULT_MODELS = _defaults_dir() / "models.yaml"
DEFAULT_PIPELINES = _defaults_dir() / "pipelines"


class ConfigError(Exception):
    """A configuration problem, with a one-line message fit to show the user."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    backend: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class StageRef(_Strict):
    kind: str
    model: str
    name: str | None = None  # defaults to the kind; needed only when a kind appears twice

    @property
    def stage_name(self) -> str:
        return self.name or self.kind


class PipelineSpec(_Strict):
    description: str = ""
    input: Literal["text", "audio"]
    stages: list[StageRef] = Field(min_length=1)
    skills: list[str] = Field(default_factory=lambda: ["builtin"])


class ModelsSpec(_Strict):
    """models.yaml: stage kind -> model name -> spec."""

    kinds: dict[str, dict[str, ModelSpec]]


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}invalid YAML ({problem})") from None


def _explain(
    path: Path,
    error: ValidationError,
    prefix: tuple[Any, ...] = (),
    allowed: dict[tuple[Any, ...], list[str]] | None = None,
) -> ConfigError:
    """Turn pydantic's report into one line naming the file and the key. An unknown key is
    reported first: a typo also makes the intended key look missing."""
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = (*prefix, *first["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        expected = (allowed or {}).get(loc[:-1], [])
        close = difflib.get_close_matches(str(loc[-1]), expected, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = (
            f"unknown key ({hint}expected one of: {', '.join(expected)})"
            if expected
            else "unknown key"
        )
    elif first["type"] == "missing":
        message = "required key is missing"
    else:
        message = first["msg"]
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ConfigError(f"{path}: {key}: {message}{suffix}")


M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Read a YAML file into a pydantic model (a policy file, say); every problem is one
    `ConfigError` line naming the file and the key, with a "did you mean" for a typo."""
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(model.model_fields)}")
    try:
        return model(**raw)
    except ValidationError as exc:
        allowed = {
            tuple(e["loc"][:-1]): _keys_at(model, tuple(e["loc"][:-1]))
            for e in exc.errors()
            if e["type"] == "extra_forbidden"
        }
        raise _explain(path, exc, (), allowed) from None


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the mapping at `loc` of `model`'s data."""
    current: type[BaseModel] | None = model
    in_container = False
    for part in loc:
        if in_container:  # a list index or a dict key: the same model goes on
            in_container = False
            continue
        field = current.model_fields.get(str(part)) if current else None
        if field is None:
            return []
        in_container = _is_container(field.annotation)
        current = _model_in(field.annotation)
    return list(current.model_fields) if current else []


def _is_container(annotation: Any) -> bool:
    if get_origin(annotation) in (list, dict, tuple):
        return True
    return any(_is_container(arg) for arg in getattr(annotation, "__args__", ()))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model in a field's type: `Style | None`, `dict[str, Style]` -> Style."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in reversed(getattr(annotation, "__args__", ())):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def load_models(path: Path = DEFAULT_MODELS) -> dict[str, dict[str, ModelSpec]]:
    """Read and validate the model catalog, including each model's backend parameters.

    A catalog may start with `extends: default` (the project's models.yaml) or `extends: PATH`
    (relative to the file): it then adds models to that catalog, or replaces models of the
    same name, instead of repeating it."""
    return _load_catalog(path, seen=())


def _load_catalog(path: Path, seen: tuple[Path, ...]) -> dict[str, dict[str, ModelSpec]]:
    if path.resolve() in seen:
        raise ConfigError(f"{path}: extends: the catalogs extend each other in a loop")
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of stage kinds to models, got {type(raw).__name__}"
        )
    base: dict[str, dict[str, ModelSpec]] = {}
    if "extends" in raw:
        parent = raw.pop("extends")
        if not isinstance(parent, str):
            raise ConfigError(f"{path}: extends: expected 'default' or a path to a models file")
        parent_path = DEFAULT_MODELS if parent == "default" else path.parent / parent
        base = _load_catalog(parent_path, (*seen, path.resolve()))
    known_kinds = registry.kinds()
    for kind in raw:
        if kind not in known_kinds:
            raise ConfigError(
                f"{path}: {kind}: unknown stage kind (expected extends or one of: "
                f"{', '.join(known_kinds)})"
            )
    try:
        catalog = ModelsSpec(kinds=raw).kinds
    except ValidationError as exc:
        allowed = {
            (kind, name): _field_names(ModelSpec)
            for kind, models in raw.items()
            for name in models or {}
        }
        raise _explain(path, exc, (), allowed) from None
    for kind, models in catalog.items():
        for name, spec in models.items():
            validate_params(path, kind, name, spec)
        base[kind] = {**base.get(kind, {}), **models}
    return base


def validate_params(path: Path, kind: str, name: str, spec: ModelSpec) -> StageParams:
    backend = registry.get(kind, spec.backend)
    if backend is None:
        available = ", ".join(b.name for b in registry.for_kind(kind)) or "none installed"
        raise ConfigError(
            f"{path}: {kind}.{name}.backend: unknown backend {spec.backend!r} for kind "
            f"{kind!r} (available: {available})"
        )
    params_model = backend.cls.Params
    try:
        return params_model(**spec.params)
    except ValidationError as exc:
        prefix = (kind, name, "params")
        allowed = {prefix: _field_names(params_model) or ["(no parameters)"]}
        raise _explain(path, exc, prefix, allowed) from None


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
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with 'input' and 'stages'")
    try:
        return PipelineSpec(**raw)
    except ValidationError as exc:
        allowed: dict[tuple[Any, ...], list[str]] = {(): _field_names(PipelineSpec)}
        for index in range(len(raw.get("stages") or [])):
            allowed[("stages", index)] = _field_names(StageRef)
        raise _explain(path, exc, (), allowed) from None


def parse_overrides(items: list[str]) -> dict[str, str]:
    """`--set KIND=MODEL` (repeatable): use another catalog model for a stage."""
    overrides: dict[str, str] = {}
    for item in items:
        stage, sep, model = item.partition("=")
        if not sep or not stage.strip() or not model.strip():
            raise ConfigError(f"--set {item!r}: expected KIND=MODEL, e.g. --set nlu=intent-tfidf")
        overrides[stage.strip()] = model.strip()
    return overrides


def resolve_skill_dirs(pipeline_path: Path, entries: list[str]) -> tuple[Path, ...]:
    """`builtin` means the skills shipped with the assistant; other entries are skill folders
    (or folders of skill folders), relative to the pipeline file."""
    dirs: list[Path] = []
    for entry in entries:
        if entry == "builtin":
            path = BUILTIN_SKILLS_DIR
        else:
            path = (pipeline_path.parent / entry).resolve()
        if not path.is_dir():
            raise ConfigError(f"{pipeline_path}: skills: {entry!r} is not a folder")
        dirs.append(path)
    return tuple(dirs)
