"""One conversation's messages at one stage (`Lane`), handled in order, and run eagerly.

A lane has a task of its own, so that a stage busy with one conversation (waiting on a model)
does not hold up another. Waking that task for every message costs a task switch, most of a
light stage's hop. So a message offered to an idle lane runs at once, in the publisher's task,
until the stage first waits (what Python 3.12's eager tasks do): a stage that never waits (most
of them: their models run on worker threads, which they await) is done before `offer` returns,
and one that does wait goes on in the lane's task from where it stopped (`_Resume`).

What eagerness changes: a message published by a stage running eagerly reaches the observers
before what its publisher publishes next (depth first, as in a call), not after. Per sender and
per conversation the order is what it was: a lane takes one message at a time, and what arrives
while it is busy queues behind it. An interrupt cannot cancel a stage while it runs in another
task: it is thrown in where the stage first waits, or the message, already done, is let be.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Awaitable, Coroutine, Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from assistant.core.bus import Envelope
from assistant.core.message import (
    EndOfStream,
    Interrupt,
    Marker,
    Message,
    SessionEnd,
    SessionStart,
    TurnEnd,
    TurnStart,
)

if TYPE_CHECKING:
    from assistant.core.runner import StageRunner

log = logging.getLogger(__name__)

CONTROL_TYPES: tuple[type[Message], ...] = (SessionStart, SessionEnd, Interrupt)
NOT_DATA: tuple[type[Message], ...] = (Marker, *CONTROL_TYPES)

Step = Coroutine[Any, Any, None]


if sys.version_info >= (3, 12):
    from asyncio.tasks import _swap_current_task
else:
    from asyncio.tasks import _current_tasks  # type: ignore[attr-defined]

    def _swap_current_task(loop: asyncio.AbstractEventLoop, task: Any) -> Any:
        """Make `task` the loop's current task and return the one that was (either may be
        None): Python 3.12's own function, which its eager tasks use."""
        previous = _current_tasks.get(loop)
        if task is None:
            _current_tasks.pop(loop, None)
        else:
            _current_tasks[loop] = task
        return previous


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class _Resume:
    """The rest of a step begun eagerly, awaited by the lane's task: it hands the task what the
    step waits on, and what the task sends or throws back (a result, a cancellation) to the
    step, as `await step` would have done had the task begun it."""

    def __init__(self, step: Step, waiting_on: Any, cancel: bool) -> None:
        self.step, self.waiting_on, self.cancel = step, waiting_on, cancel

    def __await__(self) -> Generator[Any, Any, None]:
        step, waiting_on = self.step, self.waiting_on
        try:
            if self.cancel:  # interrupted while it ran in the publisher's task
                if isinstance(waiting_on, asyncio.Future):
                    waiting_on.cancel()
                waiting_on = step.throw(asyncio.CancelledError())
            while True:
                try:
                    sent = yield waiting_on
                except GeneratorExit:
                    step.close()
                    raise
                except BaseException as exc:  # the task was cancelled: so is the step
                    waiting_on = step.throw(exc)
                else:
                    waiting_on = step.send(sent)
        except StopIteration:
            return


class Lane:
    """One conversation's messages at one stage, handled in order by their own task, or at once
    in the publisher's when the lane is idle. It also counts the markers of the conversation:
    which senders began each turn, which ended it."""

    def __init__(self, runner: StageRunner, session_id: str) -> None:
        self.runner = runner
        self.session_id = session_id
        self.maxsize = runner.maxsize
        self.queue: deque[Envelope] = deque()
        # What waits: the lane's task for a message, the runner for room (one each at most).
        self._reader: asyncio.Future[None] | None = None
        self._writer: asyncio.Future[None] | None = None
        # A step begun eagerly, for the task to finish, and its message.
        self._parked: tuple[_Resume, Message] | None = None
        self._eager = False  # a step runs in a publisher's task now
        self._closed = False  # the conversation ended in a step run eagerly
        self.current: Message | None = None
        self._interrupting = False
        self.taking_part: dict[int, frozenset[str]] = {}  # turn -> senders it comes through
        self.ended: dict[int, set[str]] = {}  # turn -> senders whose TurnEnd came
        self.streams_ended: set[str] = set()
        self.context = runner.context.copy() if runner.context is not None else None
        self.loop = asyncio.get_running_loop()
        self.task = self.loop.create_task(
            self.run(), name=f"stage-{runner.stage.name}-{session_id}", context=self.context
        )

    def offer(self, envelope: Envelope) -> bool:
        """Take a message without waiting: run it at once if the lane is idle, else queue it;
        False when the lane is full."""
        if len(self.queue) >= self.maxsize:
            return False
        reader = self._reader
        if reader is None or self._eager:
            self.queue.append(envelope)  # the lane's task is busy (or will be): it comes later
        elif not reader.done():
            self._run_eagerly(envelope)
        else:
            self.queue.append(envelope)
            self._wake_reader()
        return True

    def _run_eagerly(self, envelope: Envelope) -> None:
        """Run the message in this (the publisher's) task until the stage first waits; then the
        lane's task goes on with it. The lane's task sleeps meanwhile, unless work is left."""
        message, work = envelope.message, self._work(envelope)
        # The stage runs as the lane's task: what it binds to the current task (asyncio.timeout,
        # anyio's cancel scopes in httpx) must be the task it goes on in.
        publisher = _swap_current_task(self.loop, self.task)  # None: offered from a callback
        self._eager = True
        self.current = message
        try:
            context = self.context
            waiting_on = context.run(work.send, None) if context else work.send(None)
        except BaseException as exc:  # StopIteration: done without waiting
            self._done()
            if not isinstance(exc, StopIteration):
                raise
            done = True
        else:
            done = False
            cancel = self._interrupting  # an interrupt came while it ran here
            self._parked = (_Resume(work, waiting_on, cancel), message)
        finally:
            self._eager = False
            _swap_current_task(self.loop, publisher)
        if done and (self._interrupting or isinstance(message, SessionEnd)):
            self._closed = self._after(message)
        if self._parked is not None or self.queue or self._closed:
            self._wake_reader()

    def _wake_reader(self) -> None:
        reader, self._reader = self._reader, None
        _wake(reader)

    async def put(self, envelope: Envelope) -> None:
        while not self.offer(envelope):
            self._writer = asyncio.get_running_loop().create_future()
            await self._writer

    def _wake_writer(self) -> None:
        writer, self._writer = self._writer, None
        _wake(writer)

    def interrupt(self, interrupt: Interrupt) -> None:
        """Drop queued work of the interrupted turns and cancel the message in flight if it is
        one of theirs. The stage runs inside the lane's own task (a task per message would cost
        more than the work of a light stage), so that task is cancelled and `run` takes the
        cancellation back; a step running in a publisher's task is cancelled where it first
        waits (`_Resume`)."""
        kept = [e for e in self.queue if not interrupt.cancels(e.message)]
        for _ in range(len(self.queue) - len(kept)):
            self.runner.subscription.inbox.task_done()
        self.queue.clear()
        self.queue.extend(kept)
        self._wake_writer()
        current = self.current
        if current is None or self._interrupting or not interrupt.cancels(current):
            return
        parked = self._parked
        if self._eager:  # up the stack of this very call: cancelled where it first waits
            self._interrupting = True
        elif parked is not None:  # begun eagerly, not yet taken up by the lane's task
            self._interrupting = parked[0].cancel = True
        elif asyncio.current_task() is not self.task:
            self._interrupting = True
            self.task.cancel()
        # else the stage interrupts its own turn: it goes on to the end of this message

    async def run(self) -> None:
        queue = self.queue
        while True:
            parked = self._parked
            if parked is not None:
                self._parked = None
                rest, message = parked
                await self._step(rest)
            elif queue:
                envelope = queue.popleft()
                if self._writer is not None:
                    self._wake_writer()
                message = envelope.message
                self.current = message
                await self._step(self._work(envelope))
            elif self._closed:
                return
            else:
                self._reader = self.loop.create_future()
                await self._reader
                continue
            if self._after(message):
                return

    def _work(self, envelope: Envelope) -> Step:
        message = envelope.message
        if isinstance(message, NOT_DATA):
            return self._handle(envelope)
        return self.runner.process(message)

    async def _step(self, work: Awaitable[None]) -> None:
        """Handle one message (`self.current`): a cancellation by interrupt ends the step, not
        the lane."""
        try:
            await work
        except asyncio.CancelledError:
            if not self._interrupting:
                raise
            log.debug("stage %s: turn interrupted", self.runner.name)
        finally:
            self._done()

    def _done(self) -> None:
        self.current = None
        self.runner.subscription.inbox.task_done()

    def _after(self, message: Message) -> bool:
        """After a step: take back the cancellation of an interrupt; True when the conversation
        is over here (the lane is dropped)."""
        if self._interrupting:
            self._interrupting = False
            # Only the lane's own task was cancelled (a step run eagerly is thrown into).
            if asyncio.current_task() is self.task and self.task.uncancel() > 0:
                raise asyncio.CancelledError  # a stop() came too: end the lane
        if isinstance(message, SessionEnd) and not self.queue:
            self.runner.lanes.pop(self.session_id, None)
            return True
        return False

    async def _handle(self, envelope: Envelope) -> None:
        """A marker or a control message (data goes to `StageRunner.process`)."""
        message = envelope.message
        if isinstance(message, Marker):
            await self._marker(message, envelope.sender)
        else:
            await self.runner.control(message)

    async def _marker(self, marker: Marker, sender: str) -> None:
        """Pass a marker on once every sender that takes part has passed it: a turn comes
        through the senders after where it began (a timer's turn begins at the dialogue tracker,
        not at the input); the stream's end through all of them. A TurnStart is passed on as
        soon as the first sender passes it."""
        stage, turn = self.runner.stage, marker.turn_id
        if isinstance(marker, TurnStart):
            if turn in self.taking_part:
                return
            self.taking_part[turn] = self.runner.senders_of(marker.origin)
        elif isinstance(marker, TurnEnd):
            ended = self.ended.setdefault(turn, set())
            ended.add(sender)
            if not ended >= self.taking_part.get(turn, self.runner.senders):
                return
            self.taking_part.pop(turn, None)
            self.ended.pop(turn, None)
            await self.runner.publish_outputs(stage.end_turn(self.session_id, turn), marker)
        elif isinstance(marker, EndOfStream):
            self.streams_ended.add(sender)
            if not self.streams_ended >= self.runner.senders:
                return
            self.streams_ended.clear()
            await self.runner.publish_outputs(stage.end_stream(self.session_id), marker)
        await self.runner.publish(replace(marker, timestamp=time.monotonic()))
