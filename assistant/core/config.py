"""Configuration machinery: YAML files read into pydantic models, and the model catalog.

Every problem is reported as a `ConfigError` whose message is one line: the file, the key, and
what was expected. Nothing here knows which stage kinds or backends exist: the catalog is checked
against the registry it is given, and a model's parameters are validated when it is used
(`validate_params`, called by the planner), so reading config imports no backend.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.core.errors import ConfigError
from assistant.core.registry import Backend, Registry
from assistant.core.stage import StageParams


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Strict):
    backend: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class StageRef(Strict):
    kind: str
    model: str
    name: str | None = None  # defaults to the kind; needed only when a kind appears twice

    @property
    def stage_name(self) -> str:
        return self.name or self.kind


class ModelsSpec(Strict):
    """models.yaml: stage kind -> model name -> spec."""

    kinds: dict[str, dict[str, ModelSpec]]


def read_yaml(path: Path) -> Any:
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


def explain(
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
    raw = read_yaml(path)
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
        raise explain(path, exc, (), allowed) from None


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


def field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def load_catalog(
    path: Path, registry: Registry, *, default: Path, seen: tuple[Path, ...] = ()
) -> dict[str, dict[str, ModelSpec]]:
    """Read a model catalog (kind -> model name -> spec) and check its kinds and backend names
    against `registry`, importing no backend. `extends: default` means the catalog `default`."""
    if path.resolve() in seen:
        raise ConfigError(f"{path}: extends: the catalogs extend each other in a loop")
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of stage kinds to models, got {type(raw).__name__}"
        )
    base: dict[str, dict[str, ModelSpec]] = {}
    if "extends" in raw:
        parent = raw.pop("extends")
        if not isinstance(parent, str):
            raise ConfigError(f"{path}: extends: expected 'default' or a path to a models file")
        parent_path = default if parent == "default" else path.parent / parent
        base = load_catalog(parent_path, registry, default=default, seen=(*seen, path.resolve()))
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
            (kind, name): field_names(ModelSpec)
            for kind, models in raw.items()
            for name in models or {}
        }
        raise explain(path, exc, (), allowed) from None
    for kind, models in catalog.items():
        for name, spec in models.items():
            find_backend(path, kind, name, spec, registry)
        base[kind] = {**base.get(kind, {}), **models}
    return base


def find_backend(path: Path, kind: str, name: str, spec: ModelSpec, registry: Registry) -> Backend:
    """The registry's entry for a model's backend (not imported yet)."""
    backend = registry.get(kind, spec.backend)
    if backend is None:
        available = ", ".join(b.name for b in registry.for_kind(kind)) or "none installed"
        raise ConfigError(
            f"{path}: {kind}.{name}.backend: unknown backend {spec.backend!r} for kind "
            f"{kind!r} (available: {available})"
        )
    return backend


def validate_params(
    path: Path, kind: str, name: str, spec: ModelSpec, registry: Registry
) -> StageParams:
    """A model's parameters checked by its backend's `Params` (this imports the backend)."""
    params_model = find_backend(path, kind, name, spec, registry).cls.Params
    try:
        return params_model(**spec.params)
    except ValidationError as exc:
        prefix = (kind, name, "params")
        allowed = {prefix: field_names(params_model) or ["(no parameters)"]}
        raise explain(path, exc, prefix, allowed) from None


def parse_overrides(items: list[str]) -> dict[str, str]:
    """`--set KIND=MODEL` (repeatable): use another catalog model for a stage."""
    overrides: dict[str, str] = {}
    for item in items:
        stage, sep, model = item.partition("=")
        if not sep or not stage.strip() or not model.strip():
            raise ConfigError(f"--set {item!r}: expected KIND=MODEL, e.g. --set nlu=intent-tfidf")
        overrides[stage.strip()] = model.strip()
    return overrides
