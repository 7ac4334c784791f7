"""What several subcommands share: pipeline options, planning, and one stage run on its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import import_module
from pathlib import Path

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.core.config import find_backend, parse_overrides, validate_params
from assistant.core.errors import ConfigError, StageLoadError
from assistant.core.paths import default_cache_dir
from assistant.core.planner import PipelinePlan
from assistant.core.stage import Stage, StageContext
from assistant.knowledge.web import WebFetcher, WebKnowledgeError, is_url
from assistant.messages import Message
from assistant.pipeline import plan_pipeline
from assistant.stages import registry


def lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A subcommand whose code (and its heavy imports: aiohttp, Presidio, matplotlib) loads
    only when that subcommand runs, so that `assistant chat` starts without them."""

    def run(args: argparse.Namespace) -> int:
        command: Callable[[argparse.Namespace], int] = getattr(import_module(module), name)
        return command(args)

    return run


def add_models_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        type=Path,
        default=DEFAULT_MODELS,
        metavar="PATH",
        help="the model catalog (default: the project's models.yaml)",
    )


def add_pipeline_options(parser: argparse.ArgumentParser, default_pipeline: str) -> None:
    parser.add_argument(
        "--pipeline",
        default=default_pipeline,
        metavar="NAME|PATH",
        help=f"a pipeline from pipelines/ or a YAML file (default: {default_pipeline})",
    )
    add_models_option(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KIND=MODEL",
        help="use another catalog model for a stage, or persona=PATH for another persona "
        "file (see assistant/policies/persona.yaml); repeatable",
    )


def add_session_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--session",
        metavar="ID",
        help="resume (or start) the conversation with this id; it is kept across "
        "runs, pending timers included",
    )
    parser.add_argument(
        "--user",
        metavar="ID",
        help="who is speaking: consent and records are kept per user (default: your login)",
    )
    add_knowledge_option(parser)
    add_skill_option(parser)


def add_skill_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skill",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a skill folder or a Rasa 3.x project folder to add to the pipeline's skills "
        "(its intents and responses win over built-in ones of the same name); repeatable",
    )


def add_knowledge_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--knowledge",
        type=knowledge_source,
        action="append",
        default=[],
        metavar="PATH|URL",
        help="a file or folder of .md/.txt documents, or a web page or sitemap.xml "
        "(http:// or https://), to answer questions from; repeatable",
    )


def knowledge_source(value: str) -> Path | str:
    """A URL stays a string (Path would fold its '//'); anything else is a path."""
    return value if is_url(value) else Path(value)


def knowledge_paths(sources: list[Path | str], cache_dir: Path | None = None) -> tuple[Path, ...]:
    """The documents to index: paths as given, and each URL fetched into the cache
    (`assistant.knowledge.web`). A URL that cannot be used is reported on stderr in one line
    and left out, so the assistant still starts with the other documents."""
    fetcher = WebFetcher(cache_dir or default_cache_dir())
    paths: list[Path] = []
    for source in sources:
        if not is_url(source):
            paths.append(Path(source))
            continue
        try:
            pages = fetcher.fetch(str(source))
        except WebKnowledgeError as exc:
            print(f"knowledge: {exc}", file=sys.stderr, flush=True)
            continue
        paths += [page.path for page in pages]
    return tuple(paths)


def build_plan(args: argparse.Namespace) -> PipelinePlan:
    """Read and check all configuration; nothing is loaded yet."""
    catalog = load_models(args.models)
    pipeline_path = resolve_pipeline_path(args.pipeline)
    spec = load_pipeline(pipeline_path)
    return plan_pipeline(
        spec,
        pipeline_path,
        catalog,
        args.models,
        parse_overrides(args.set),
        extra_skills=tuple(getattr(args, "skill", None) or ()),
    )


def pipeline_model(kind: str, pipeline: str = "voice") -> str:
    """The model a default pipeline uses for a kind: what `--model` means when not given."""
    spec = load_pipeline(resolve_pipeline_path(pipeline))
    for ref in spec.stages:
        if ref.kind == kind:
            return ref.model
    raise ConfigError(f"the {pipeline} pipeline has no {kind} stage; give --model")


@asynccontextmanager
async def single_stage(models_path: Path, kind: str, name: str) -> AsyncIterator[Stage]:
    """One catalog model's stage, loaded and ready for `run_stage` (no bus, no pipeline)."""
    catalog = load_models(models_path)
    spec = catalog.get(kind, {}).get(name)
    if spec is None:
        known = ", ".join(catalog.get(kind, {})) or "none"
        raise ConfigError(f"{models_path}: no {kind} model {name!r} (its {kind} models: {known})")
    params = validate_params(models_path, kind, name, spec, registry)
    cls = find_backend(models_path, kind, name, spec, registry).cls
    stage = cls(name=kind, params=params, context=StageContext())
    try:
        await stage.start()
    except Exception as exc:
        raise StageLoadError(f"{kind} model {name!r} could not start: {exc}") from exc
    try:
        yield stage
    finally:
        await stage.stop()


async def run_stage(stage: Stage, message: Message) -> list[Message]:
    return [output async for output in stage.process(message)]
