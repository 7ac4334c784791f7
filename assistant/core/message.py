"""The message base and the control messages every pipeline shares.

Messages are frozen, slotted, keyword-only dataclasses: immutable once published, cheap to create,
and impossible to build with arguments in the wrong order. Each carries the session id, the turn
id and a monotonic timestamp so that observers can line up what happened in one turn.

`SYSTEM` messages (interrupts, errors, session boundaries) jump ahead of queued data messages,
as Pipecat's system frames do, so that an interruption is not stuck behind the work it cancels.
The product's own messages (audio, transcripts, replies) are in `assistant.messages`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of all bus messages."""

    SYSTEM: ClassVar[bool] = False
    # Whether an interrupt may drop it while queued. Input audio is never dropped: the user's
    # next words are in it.
    INTERRUPTIBLE: ClassVar[bool] = True

    session_id: str
    turn_id: int
    timestamp: float = field(default_factory=time.monotonic)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Not zero-argument super(): its cell is the class before `slots=True` replaced it.
        super(Message, cls).__init_subclass__(**kwargs)
        global _subclasses_defined
        _subclasses_defined += 1


_subclasses_defined = 0


def subclasses_defined() -> int:
    """How many Message subclasses were ever defined (a `slots=True` dataclass counts twice):
    tables built by walking the subclasses are stale when this changes."""
    return _subclasses_defined


# --- control -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Interrupt(Message):
    """The user barged in: drop and cancel work of turns up to and including `turn_id`; from
    `first_turn_id` on only, when one turn is withdrawn and the turns before it go on."""

    SYSTEM: ClassVar[bool] = True

    reason: str = "barge-in"
    first_turn_id: int = 0

    def cancels(self, message: Message) -> bool:
        """Whether this interrupt drops `message`: data of the interrupted turns, never a
        marker (turns still end in order)."""
        return (
            message.INTERRUPTIBLE
            and message.session_id == self.session_id
            and self.first_turn_id <= message.turn_id <= self.turn_id
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StageError(Message):
    """A stage failed on a message; the turn ends with an apology and the session continues."""

    SYSTEM: ClassVar[bool] = True

    stage: str
    consumed: str
    error_type: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StageTiming(Message):
    """How long one stage spent on one message (monotonic seconds); published before its output."""

    SYSTEM: ClassVar[bool] = True

    stage: str
    consumed: str
    started: float
    finished: float


def _stage_timing_builder() -> Callable[[str, int, str, str, float, float], StageTiming]:
    # The slots' own setters, bound once: a frozen dataclass's __init__ parses keywords and goes
    # through object.__setattr__ by name for each field, twice the cost of a runner's hop.
    new = object.__new__
    names = ("session_id", "turn_id", "timestamp", "stage", "consumed", "started", "finished")
    if {f.name for f in fields(StageTiming)} != set(names):
        raise TypeError("stage_timing must set every field of StageTiming")
    set_session, set_turn, set_timestamp, set_stage, set_consumed, set_started, set_finished = (
        getattr(StageTiming, name).__set__ for name in names
    )

    def stage_timing(
        session_id: str, turn_id: int, stage: str, consumed: str, started: float, finished: float
    ) -> StageTiming:
        """`StageTiming(...)` stamped at `finished`, built at half the cost (one per message and
        stage)."""
        timing = new(StageTiming)
        set_session(timing, session_id)
        set_turn(timing, turn_id)
        set_timestamp(timing, finished)
        set_stage(timing, stage)
        set_consumed(timing, consumed)
        set_started(timing, started)
        set_finished(timing, finished)
        return timing

    return stage_timing


stage_timing = _stage_timing_builder()


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStart(Message):
    """A conversation begins. `user` names who speaks, when known (`--user`, a server's
    client); `interactive` is False for a one-shot run, where nobody could answer a question."""

    SYSTEM: ClassVar[bool] = True

    user: str | None = None
    interactive: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnd(Message):
    """The conversation stops here. With reason `RESET` it is also forgotten: the tracker
    records a restart, so slots, lists and timers are gone when it resumes."""

    SYSTEM: ClassVar[bool] = True

    reason: str = "user"


RESET = "reset"  # SessionEnd.reason of `/reset`


# --- turn markers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Marker(Message):
    """An in-order boundary in one conversation's stream. Markers queue with data (so they stay
    behind the messages they follow), are never dropped by an interrupt, and each stage's runner
    passes one on once every stage it reads from has passed it (see `assistant.core.runner`):
    when a conversation sees a `TurnEnd` leave the pipeline, everything of that turn is done."""

    INTERRUPTIBLE: ClassVar[bool] = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnStart(Marker):
    """Turn `turn_id` of the session begins: what follows belongs to it. `origin` is where it
    began (the input, or a stage such as the dialogue tracker when a timer fires): only the
    stages after it take part in the turn."""

    origin: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnEnd(Marker):
    """Everything of turn `turn_id` has been sent: a stage that reads it may finish the turn."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfStream(Marker):
    """The session's input ends (a file's last frame): stages let go of what they still hold,
    the VAD the speech in progress."""
