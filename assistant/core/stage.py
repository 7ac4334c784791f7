"""The Stage base class: one step of a pipeline.

A stage's class declares which message types it consumes and produces, so a pipeline can be
checked before any model loads. Which classes exist is the registry's business
(`assistant.core.registry`).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from assistant.core.message import Message
from assistant.core.paths import default_cache_dir

Progress = Callable[[str, int, int], None]
"""Progress of a long preparation: (what, done, total) in any unit, e.g. bytes."""
R = TypeVar("R")


class StageParams(BaseModel):
    """Base of a backend's parameters (the `params:` of a model in models.yaml).
    Unknown keys are errors, so a typo is reported instead of silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TurnKeeper(Protocol):
    def wants(self, session_id: str, turn_id: int) -> bool:
        """Whether it keeps this turn: its record is built only if someone does."""

    def keep(self, session_id: str, record: dict[str, Any], plan: Any, audio: bytes | None) -> None:
        """A finished turn: its `--json` record, the pipeline's plan and, when spoken, the
        user's 16 kHz 16-bit audio. Must not block."""

    def rate(self, session_id: str, turn: int, rating: str, comment: str) -> None:
        """The user rated turn `turn` ("up", "down" or "flag"). Must not block."""


@dataclass(frozen=True)
class StageContext:
    """What every stage may read: this run's skill folders and documents (`--knowledge`), and
    the cache directory for things built once (indexes, assembled models)."""

    skill_dirs: tuple[Path, ...] = ()
    knowledge_paths: tuple[Path, ...] = ()
    cache_dir: Path = field(default_factory=default_cache_dir)
    # Turns a stage begins itself (a timer ending, a question at the session's start) take
    # negative ids, counted here so that two such stages never give one id twice.
    _proactive_turns: dict[str, int] = field(default_factory=dict, compare=False)
    # Stages that keep conversation records register here; the sessions hand them each
    # finished turn and each rating a client gives outside a turn (a browser's button).
    keepers: list[TurnKeeper] = field(default_factory=list, compare=False)

    def proactive_turn(self, session_id: str) -> int:
        """A fresh negative turn id of the session, for a turn no user began."""
        turn = self._proactive_turns.get(session_id, 0) - 1
        self._proactive_turns[session_id] = turn
        return turn


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

    @property
    def attached(self) -> bool:
        """Whether the stage runs in a pipeline (`emit` has somewhere to publish)."""
        return self._emit is not None

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

    def prefetch(self) -> None:
        """Begin slow loading that needs nothing else of the stage in a thread of its own
        (`assistant.core.background`): called for every stage of an interactive pipeline once
        all of them have loaded, so it runs while the user begins to speak or type (not for a
        one-shot run). Must return at once. Default: nothing."""

    async def settle(self) -> None:
        """Wait for what `prefetch` began, whatever its outcome (before the process may end:
        a native library cut mid-load crashes the interpreter's shutdown). Default: nothing."""

    def load(self) -> None:
        """Load models and data (blocking; called once, in the stage's worker thread)."""

    async def start(self) -> None:
        await self.run_blocking(self.load)

    async def stop(self) -> None:
        await self.settle()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def control(self, message: Message) -> None:
        """React to a system message (session start/end, interrupt). Default: nothing to do."""

    @abstractmethod
    def process(self, message: Message) -> AsyncIterator[Message]:
        """Handle one consumed message, yielding output messages as soon as each exists."""

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        """This stage's part of a turn's record (keys of `--json`), from the messages it
        published in the turn, in order. Default: nothing; see `assistant.records`."""
        return {}

    async def end_turn(self, session_id: str, turn_id: int) -> AsyncIterator[Message]:
        """Everything of the turn has reached this stage: yield what is left of it (a stage
        that holds pieces back) and forget the turn. Called before the turn's `TurnEnd` is passed
        on. Default: nothing."""
        return
        yield  # an async generator that yields nothing

    async def end_stream(self, session_id: str) -> AsyncIterator[Message]:
        """The session's input has ended: yield what is still held (the VAD's last speech).
        Called before the `EndOfStream` is passed on. Default: nothing."""
        return
        yield  # an async generator that yields nothing

    async def run_blocking(self, fn: Callable[..., R], *args: Any) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)
