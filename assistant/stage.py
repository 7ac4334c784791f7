"""The Stage base class and the registry of stage backends.

A stage is one step of the pipeline (speech recognition, intent detection, ...). Its class
declares which message types it consumes and produces, so a pipeline can be checked before any
model loads. The registry maps (kind, backend) to a class: built-in backends register themselves
with `@register`, third-party ones are found through the entry-point group `assistant.stages`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from assistant.messages import Message

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "assistant.stages"

Progress = Callable[[str, int, int], None]
"""Progress of a long preparation: (what, done, total) in any unit, e.g. bytes."""
R = TypeVar("R")

KINDS: dict[str, str] = {
    "vad": "voice activity detection (endpointing)",
    "asr": "speech recognition",
    "guard": "input guard: refuses harmful requests, redacts personal data",
    "sentiment": "sentiment of the user's utterance",
    "nlu": "intent detection and entities",
    "dst": "dialogue state tracking",
    "respond": "response generation",
    "tone": "sentiment-aware tone adjustment",
    "filter": "response filtering",
    "tts": "speech synthesis",
}
"""The stage kinds of the product, in pipeline order. Plugins may add kinds of their own."""


class StageParams(BaseModel):
    """Base of a backend's parameters (the `params:` of a model in models.yaml).
    Unknown keys are errors, so a typo is reported instead of silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MissingModelError(RuntimeError):
    """A model or the package that ships it is not installed. The message says what to install."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "assistant"


def missing_package(module: str, package: str) -> str | None:
    """For `Stage.readiness`: whether an import would fail, without importing (cheap)."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"the {package} package is not installed: pip install {package}"


@dataclass(frozen=True)
class StageContext:
    """What every stage may read: this run's skill folders and documents (`--knowledge`), and
    the cache directory for things built once (indexes, assembled models)."""

    skill_dirs: tuple[Path, ...] = ()
    knowledge_paths: tuple[Path, ...] = ()
    cache_dir: Path = field(default_factory=default_cache_dir)


class Stage(ABC):
    """One pipeline step. Subclasses set the class variables and implement `process`.

    Heavy imports and model loading belong in `load`, which runs once in a worker thread before
    the first message; `process` runs model inference through `run_blocking` so the event loop
    (audio capture, barge-in) never stalls.
    """

    kind: ClassVar[str]
    backend: ClassVar[str]
    consumes: ClassVar[tuple[type[Message], ...]]
    produces: ClassVar[tuple[type[Message], ...]]
    # Types taken from any sender, outside the pipeline's order: results that flow back, such as
    # the responder's DialogueUpdate to the dialogue tracker. Not part of the type-graph check.
    feedback: ClassVar[tuple[type[Message], ...]] = ()
    Params: ClassVar[type[StageParams]] = StageParams
    description: ClassVar[str] = ""

    def __init__(self, *, name: str, params: StageParams, context: StageContext) -> None:
        self.name = name
        self.params = params
        self.context = context
        # One thread per stage: its model is never used from two threads, and order is kept.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"stage-{name}")
        self._emit: Callable[[Message], Awaitable[None]] | None = None

    def attach(self, emit: Callable[[Message], Awaitable[None]]) -> None:
        """Called by the pipeline: how this stage publishes outside `process`."""
        self._emit = emit

    async def emit(self, message: Message) -> None:
        """Publish a message that is not the answer to a consumed one (a timer that ends, a
        microphone that hears speech)."""
        if self._emit is None:
            raise RuntimeError(f"stage {self.name} is not attached to a running pipeline")
        await self._emit(message)

    @classmethod
    def readiness(cls, params: StageParams, context: StageContext) -> str | None:
        """Why this model cannot load right now (a missing package, a one-time preparation not
        done yet), or None when it is ready. Cheap: `assistant models` calls it for every model
        without loading any."""
        return None

    @classmethod
    def prepare(cls, params: StageParams, context: StageContext, progress: Progress) -> bool:
        """Do the one-time work the model needs before it can load (assemble, convert) and
        return True, or return False when there is nothing to do. Blocking; may take minutes."""
        return False

    def load(self) -> None:
        """Load models and data (blocking; called once, in the stage's worker thread)."""

    async def start(self) -> None:
        await self.run_blocking(self.load)

    async def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def control(self, message: Message) -> None:
        """React to a system message (session start/end, interrupt). Default: nothing to do."""

    @abstractmethod
    def process(self, message: Message) -> AsyncIterator[Message]:
        """Handle one consumed message, yielding output messages as soon as each exists."""

    async def run_blocking(self, fn: Callable[..., R], *args: Any) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)


S = TypeVar("S", bound=type[Stage])


@dataclass(frozen=True)
class Backend:
    kind: str
    name: str
    cls: type[Stage]
    origin: str  # "built-in" or the distribution that provides the entry point


@dataclass
class Registry:
    backends: dict[tuple[str, str], Backend] = field(default_factory=dict)
    plugin_errors: list[str] = field(default_factory=list)
    _discovered: bool = False

    def add(self, cls: type[Stage], origin: str) -> None:
        for attr in ("kind", "backend", "consumes", "produces"):
            if not hasattr(cls, attr):
                raise TypeError(f"stage class {cls.__qualname__} does not set {attr!r}")
        key = (cls.kind, cls.backend)
        existing = self.backends.get(key)
        if existing is not None and existing.cls is not cls:
            raise ValueError(
                f"backend {cls.kind}/{cls.backend} from {origin} clashes with the one from "
                f"{existing.origin}"
            )
        self.backends[key] = Backend(cls.kind, cls.backend, cls, origin)

    def discover(self) -> None:
        """Import the built-in backends and load the `assistant.stages` entry points (once).
        A broken plugin is reported, not fatal: the other backends stay usable."""
        if self._discovered:
            return
        self._discovered = True
        importlib.import_module("assistant.stages")
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            origin = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value
            try:
                cls = ep.load()
                if not (isinstance(cls, type) and issubclass(cls, Stage)):
                    raise TypeError(f"{ep.value} is not a Stage subclass")
                self.add(cls, origin)
            except Exception as exc:  # any plugin failure is reported the same way
                message = f"plugin {ep.name!r} ({origin}) could not be loaded: {exc}"
                self.plugin_errors.append(message)
                log.warning(message)

    def kinds(self) -> list[str]:
        self.discover()
        extra = sorted({kind for kind, _ in self.backends} - set(KINDS))
        return [*KINDS, *extra]

    def for_kind(self, kind: str) -> list[Backend]:
        self.discover()
        return sorted((b for (k, _), b in self.backends.items() if k == kind), key=lambda b: b.name)

    def get(self, kind: str, backend: str) -> Backend | None:
        self.discover()
        return self.backends.get((kind, backend))


registry = Registry()


def register(cls: S) -> S:
    """Class decorator for built-in backends."""
    registry.add(cls, "built-in")
    return cls
