"""The message bus: in-process asyncio pub/sub, dispatching by message type.

Each subscriber owns one ordered inbox. Data messages wait in a bounded queue, so a slow stage
slows its producer down (backpressure) instead of growing memory without limit. System messages
(`Message.SYSTEM`) go to a separate unbounded queue that is always read first, so an interrupt
is never stuck behind the work it cancels. Observers see every message synchronously, in
publication order; they must be cheap (tracing, metrics, transcripts).

Publishing is synchronous as far as it can be (`Bus.offer`): a coroutine, a task switch or an
allocation per message costs more than a light stage's work, so dispatch tables are cached per
(type, sender), waiting readers are woken through one future, and a reader waiting on an empty
inbox may take a message directly (`Inbox.direct`, how a runner hands it to its lane).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from assistant.core.message import Interrupt, Message

log = logging.getLogger(__name__)

Observer = Callable[[Message, str], None]
"""Called with every published message and the name of its sender."""


@dataclass(frozen=True, slots=True)
class Envelope:
    message: Message
    sender: str


class Inbox:
    """One subscriber's queue: system messages first, then data messages in order, bounded.

    It has one reader. Waking a reader costs a task switch, so a reader that waits on an empty
    inbox may set `direct`: then a message goes straight to it, in the publisher's task, when
    `direct` takes it (returns True); it still counts as unfinished until `task_done`.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("an inbox needs room for at least one message")
        self.maxsize = maxsize
        self.direct: Callable[[Envelope], bool] | None = None
        self._system: deque[Envelope] = deque()
        self._data: deque[Envelope] = deque()
        self._reader: asyncio.Future[None] | None = None  # the reader waiting in `get`
        self._writable = asyncio.Event()
        self._writable.set()
        self._unfinished = 0
        self._idle_waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._system) + len(self._data)

    def offer(self, envelope: Envelope) -> bool:
        """Put without waiting; False when it would have to wait (a data message, inbox full)."""
        reader = self._reader
        if reader is not None and not reader.done():
            # The reader waits, so the inbox is empty: nothing is ahead of this message.
            direct = self.direct
            self._unfinished += 1  # before: `direct` may finish with it at once (task_done)
            if direct is not None and direct(envelope):
                return True
            self._unfinished -= 1
            self._reader = None
            reader.set_result(None)
        if envelope.message.SYSTEM:
            self._system.append(envelope)
        elif len(self._data) < self.maxsize:
            self._data.append(envelope)
        else:
            return False
        self._unfinished += 1
        return True

    async def put(self, envelope: Envelope) -> None:
        while not self.offer(envelope):
            self._writable.clear()
            await self._writable.wait()

    async def get(self) -> Envelope:
        while not (self._system or self._data):
            if self._reader is not None and not self._reader.done():
                raise RuntimeError("an inbox has one reader")
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader
        envelope = self._system.popleft() if self._system else self._data.popleft()
        if len(self._data) < self.maxsize:
            self._writable.set()
        return envelope

    def task_done(self) -> None:
        """Mark one message taken with `get` as fully handled (its outputs are published)."""
        self._unfinished -= 1
        if self._unfinished <= 0:
            self._unfinished = 0
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def drop_turns(self, interrupt: Interrupt) -> int:
        """Forget queued data messages of turns that were interrupted; returns how many."""
        if not self._data:
            return 0
        kept = deque(e for e in self._data if not interrupt.cancels(e.message))
        dropped = len(self._data) - len(kept)
        self._data = kept
        for _ in range(dropped):
            self.task_done()
        if dropped:
            self._writable.set()
        return dropped

    @property
    def idle(self) -> bool:
        return self._unfinished == 0

    async def join(self) -> None:
        while self._unfinished:
            waiter = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(waiter)
            await waiter


Pending: TypeAlias = tuple[Envelope, tuple[Inbox, ...]]
"""A message on its way: the inboxes still to take it, the first of them full."""

Senders: TypeAlias = str | Collection[str] | None
"""Whom a subscriber takes a message type from: one sender, any of several, or (None) anyone."""


@dataclass(eq=False)
class Subscription:
    """Where a subscriber's messages go. `routes` maps a message type to the senders it accepts
    that type from (None: any sender)."""

    name: str
    routes: Mapping[type[Message], frozenset[str] | None]
    inbox: Inbox
    on_interrupt: Callable[[Interrupt], None] | None = None

    def accepts(self, kind: type[Message], sender: str) -> bool:
        """Whether messages of type `kind` from `sender` come here."""
        for wanted, senders in self.routes.items():
            if issubclass(kind, wanted) and (senders is None or sender in senders):
                return True
        return False


class Bus:
    def __init__(self, default_maxsize: int = 16) -> None:
        self.default_maxsize = default_maxsize
        self._subscriptions: list[Subscription] = []
        # A tuple, replaced on change: publish iterates it without copying, even while an
        # observer adds or removes one.
        self._observers: tuple[Observer, ...] = ()
        # Dispatch is by sender, then message type (no key tuple built per message); the answer
        # is cached until subscriptions change.
        self._routes: dict[str, dict[type[Message], tuple[Inbox, ...]]] = {}

    def subscribe(
        self,
        name: str,
        routes: Mapping[type[Message], Senders],
        *,
        maxsize: int | None = None,
        on_interrupt: Callable[[Interrupt], None] | None = None,
    ) -> Subscription:
        subscription = Subscription(
            name=name,
            routes={kind: _sender_set(senders) for kind, senders in routes.items()},
            inbox=Inbox(self.default_maxsize if maxsize is None else maxsize),
            on_interrupt=on_interrupt,
        )
        self._subscriptions.append(subscription)
        self._routes.clear()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.remove(subscription)
        self._routes.clear()

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Add an observer; returns a function that removes it."""
        self._observers = (*self._observers, observer)

        def remove() -> None:
            observers = list(self._observers)
            observers.remove(observer)
            self._observers = tuple(observers)

        return remove

    async def publish(self, message: Message, sender: str) -> None:
        """Deliver to every subscriber that wants it; waits while a subscriber's inbox is full."""
        pending = self.offer(message, sender)
        if pending is not None:
            await self.deliver(pending)

    def offer(self, message: Message, sender: str) -> Pending | None:
        """Publish as far as possible without waiting (a coroutine per message costs more than
        a light stage's work): observers see the message and inboxes in order take it until
        one is full. Returns None when every subscriber has it, else what `deliver` must
        finish: `publish` is `offer` then `deliver`."""
        if self._observers:
            for observer in self._observers:
                try:
                    observer(message, sender)
                except Exception:  # an observer must never break the conversation
                    log.exception("observer %r failed on %s", observer, type(message).__name__)
        if isinstance(message, Interrupt):
            self._interrupt(message)
        by_type = self._routes.get(sender)  # the cache, looked up here: once per message
        inboxes = by_type.get(type(message)) if by_type is not None else None
        if inboxes is None:
            inboxes = self._inboxes(type(message), sender)
        if inboxes:
            envelope = Envelope(message, sender)
            for inbox in inboxes:
                if not inbox.offer(envelope):
                    return envelope, inboxes[inboxes.index(inbox) :]
        return None

    @staticmethod
    async def deliver(pending: Pending) -> None:
        """Finish an `offer`: wait for room in each inbox that was full, in order."""
        envelope, inboxes = pending
        for inbox in inboxes:
            await inbox.put(envelope)

    def _inboxes(self, kind: type[Message], sender: str) -> tuple[Inbox, ...]:
        """Who takes messages of type `kind` from `sender` (cached until subscriptions change)."""
        by_type = self._routes.get(sender)
        if by_type is None:
            by_type = self._routes[sender] = {}
        inboxes = by_type.get(kind)
        if inboxes is None:
            inboxes = by_type[kind] = tuple(
                s.inbox for s in self._subscriptions if s.accepts(kind, sender)
            )
        return inboxes

    def heard(self, kind: type[Message], sender: str) -> bool:
        """Whether a message of type `kind` from `sender` would reach anyone: an observer or a
        subscriber. What no one would hear need not be built."""
        if self._observers:
            return True
        by_type = self._routes.get(sender)
        inboxes = by_type.get(kind) if by_type is not None else None
        return bool(inboxes if inboxes is not None else self._inboxes(kind, sender))

    def _interrupt(self, interrupt: Interrupt) -> None:
        for subscription in self._subscriptions:
            subscription.inbox.drop_turns(interrupt)
            if subscription.on_interrupt is not None:
                subscription.on_interrupt(interrupt)

    async def join(self) -> None:
        """Wait until every inbox is empty and every taken message is handled, including the
        messages that handling published in turn."""
        while True:
            for subscription in tuple(self._subscriptions):
                await subscription.inbox.join()
            if all(s.inbox.idle for s in self._subscriptions):
                return


def _sender_set(senders: Senders) -> frozenset[str] | None:
    if senders is None:
        return None
    return frozenset([senders] if isinstance(senders, str) else senders)
