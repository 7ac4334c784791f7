"""Many conversations over one started text pipeline, for the servers (HTTP, WebSocket, Wyoming).

A conversation is a `TextSession` named by the client's conversation id, begun on first use.
Turns of one conversation run one at a time (a lock each); different conversations run at
once (the bus gives each its own lane). Replies nobody asked for just then (a timer ending)
go to the conversation's listener if one is attached (a WebSocket), else they are kept, a
bounded few, until the conversation's next request takes them (`take_kept`).

A conversation id lives in one place at a time: a front end with a pipeline of its own (the
/ws voice pipeline) borrows the id with `lend`, which ends the text session here (its dialogue
is in the store, where the borrower's tracker picks it up), and `give_back` returns it; the
hub refuses the id meanwhile (`HubBusy`) rather than let two trackers hold diverging states.

The hub knows no HTTP: every front end shares it, and its errors are plain exceptions whose
message is fit to show a client.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.core.runner import Pipeline
from assistant.messages import Reply
from assistant.session import TextSession, TurnRecord

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 128
MAX_TEXT_CHARS = 10_000
KEPT_REPLIES = 20  # proactive replies kept per conversation while nobody listens
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_.:@+-]+")  # length checked apart

Listener = Callable[[Reply], None]
"""Gets each proactive reply of a conversation, in the event loop: must not block (put the
reply on a queue, or create a task)."""
TurnObserver = Callable[[str, TurnRecord, float], None]
"""Called after each turn with the conversation id, the record and the seconds `say` took."""


class HubError(ValueError):
    """A request the hub cannot take; the message says what was wrong, fit for the client."""


class HubClosed(RuntimeError):
    """The hub is shutting down and takes no more turns."""


class HubBusy(RuntimeError):
    """The conversation is open on another front end (a /ws connection) for now."""


def check_conversation_id(conversation_id: object) -> str:
    """The id itself when it is acceptable, else a `HubError` saying why."""
    if not isinstance(conversation_id, str):
        raise HubError(
            f"the conversation id must be a string, not {type(conversation_id).__name__}"
        )
    if not conversation_id:
        raise HubError("the conversation id is empty; give 1-128 characters")
    if len(conversation_id) > MAX_ID_LENGTH:
        raise HubError(f"the conversation id is longer than {MAX_ID_LENGTH} characters")
    if not CONVERSATION_ID.fullmatch(conversation_id):
        raise HubError("the conversation id may only contain letters, digits and _ . : @ + -")
    return conversation_id


def check_text(text: object) -> str:
    """The text without surrounding spaces, else a `HubError` saying why not."""
    if not isinstance(text, str):
        raise HubError(f"the text must be a string, not {type(text).__name__}")
    text = text.strip()
    if not text:
        raise HubError("the text is empty; say something, e.g. 'hello'")
    if len(text) > MAX_TEXT_CHARS:
        raise HubError(f"the text is longer than {MAX_TEXT_CHARS} characters")
    return text


@dataclass
class _Conversation:
    session: TextSession
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    begun: bool = False
    listener: Listener | None = None
    kept: deque[Reply] = field(default_factory=lambda: deque(maxlen=KEPT_REPLIES))
    last_used: float = field(default_factory=time.monotonic)
    busy: int = 0  # say() calls running or waiting for the lock


class ConversationHub:
    """Owns the conversations of one started text pipeline (the caller starts and stops the
    pipeline). Public API: `say`, `take_kept`, `attach`, `detach`, `close`, `active`,
    `observe_turns`.

    A conversation idle for `idle_seconds` with no listener and no timer running is ended (its
    state stays in the tracker's store; the next request picks it up again), so memory does not
    grow with every conversation ever seen."""

    def __init__(
        self, pipeline: Pipeline, *, turn_timeout: float = 120.0, idle_seconds: float = 1800.0
    ) -> None:
        self.pipeline = pipeline
        self.turn_timeout = turn_timeout
        self.idle_seconds = idle_seconds
        self._conversations: dict[str, _Conversation] = {}
        self._observers: list[TurnObserver] = []
        self._closed = False
        self._lent: dict[str, str] = {}  # conversation id -> the front end holding it
        self._last_sweep = time.monotonic()

    @property
    def active(self) -> int:
        """How many conversations are open."""
        return len(self._conversations)

    @property
    def name(self) -> str:
        """The pipeline's name, for health reports."""
        return self.pipeline.plan.name

    def observe_turns(self, observer: TurnObserver) -> None:
        """Call `observer` after every turn (metrics)."""
        self._observers.append(observer)

    async def say(self, conversation_id: str, text: str) -> TurnRecord:
        """One user turn in the conversation `conversation_id` (created on first use).

        Raises `HubError` for a bad id or text, `HubClosed` once `close` has begun, `HubBusy`
        while the id is lent. A stage
        that fails does not raise: the record's text is an apology and the next turn works."""
        conversation_id = check_conversation_id(conversation_id)
        text = check_text(text)
        if self._closed:
            raise HubClosed("the server is shutting down")
        self._sweep()
        started = time.monotonic()
        record = None
        while record is None:
            record = await self._say_in(self._conversation(conversation_id), text)
        seconds = time.monotonic() - started
        for observer in self._observers:
            try:
                observer(conversation_id, record, seconds)
            except Exception:
                log.exception("a turn observer failed")
        return record

    async def _say_in(self, conversation: _Conversation, text: str) -> TurnRecord | None:
        """The turn, or None when the conversation was ended while this waited for it."""
        conversation.busy += 1
        try:
            async with conversation.lock:
                if self._closed:
                    raise HubClosed("the server is shutting down")
                if self._conversations.get(conversation.session.session_id) is not conversation:
                    return None
                if not conversation.begun:
                    await conversation.session.begin()
                    conversation.begun = True
                return await conversation.session.say(text)
        finally:
            conversation.busy -= 1
            conversation.last_used = time.monotonic()

    def take_kept(self, conversation_id: str) -> list[Reply]:
        """The proactive replies kept for the conversation since it was last asked, oldest
        first; they are given only once."""
        conversation = self._conversations.get(conversation_id)
        if conversation is None or not conversation.kept:
            return []
        kept = list(conversation.kept)
        conversation.kept.clear()
        return kept

    def attach(self, conversation_id: str, listener: Listener) -> list[Reply]:
        """From now on the conversation's proactive replies go to `listener` (replacing any
        listener before). Returns the replies kept while nobody listened (given only once)."""
        conversation = self._conversation(check_conversation_id(conversation_id))
        conversation.listener = listener
        return self.take_kept(conversation_id)

    def detach(self, conversation_id: str, listener: Listener | None = None) -> None:
        """Proactive replies are kept again. With `listener`, only if it is still the one
        attached (a newer connection of the same conversation keeps its own)."""
        conversation = self._conversations.get(conversation_id)
        if conversation is not None and listener in (None, conversation.listener):
            conversation.listener = None

    async def lend(self, conversation_id: str, borrower: str) -> list[Reply]:
        """Hand the conversation to another front end (`borrower` names it for the clients
        refused meanwhile): its text session here ends once its running turn is done, so the
        store holds its dialogue. Returns the proactive replies kept for it (given only once).
        Raises `HubBusy` when it is lent already."""
        conversation_id = check_conversation_id(conversation_id)
        self._refuse_lent(conversation_id)
        self._lent[conversation_id] = borrower
        conversation = self._conversations.get(conversation_id)
        kept = list(conversation.kept) if conversation else []
        await self._end(conversation_id)
        return kept

    def give_back(self, conversation_id: str) -> None:
        """The borrower is done (its session ended and is stored): the id is served here again."""
        self._lent.pop(conversation_id, None)

    async def close(self) -> None:
        """Take no new turns, let the running ones finish, and end every conversation, so
        that the stores hold everything. Idempotent."""
        self._closed = True
        for conversation_id in list(self._conversations):
            await self._end(conversation_id)

    # --- inside ----------------------------------------------------------------------------------

    def _refuse_lent(self, conversation_id: str) -> None:
        borrower = self._lent.get(conversation_id)
        if borrower is not None:
            raise HubBusy(
                f"conversation {conversation_id} is open on {borrower}; send the text there, "
                "or close it first"
            )

    def _conversation(self, conversation_id: str) -> _Conversation:
        self._refuse_lent(conversation_id)
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            if self._closed:
                raise HubClosed("the server is shutting down")
            session = TextSession(
                self.pipeline,
                session_id=conversation_id,
                user=conversation_id,  # a client's conversation is its user's, as in Rasa
                turn_timeout=self.turn_timeout,
                on_proactive=lambda reply: self._proactive(conversation_id, reply),
            )
            conversation = self._conversations[conversation_id] = _Conversation(session)
        return conversation

    def _proactive(self, conversation_id: str, reply: Reply) -> None:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return
        conversation.last_used = time.monotonic()
        if conversation.listener is None:
            conversation.kept.append(reply)
            return
        try:
            conversation.listener(reply)
        except Exception:
            log.exception("the listener of conversation %s failed; reply kept", conversation_id)
            conversation.kept.append(reply)

    async def _end(self, conversation_id: str, *, idle_only: bool = False) -> None:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return
        async with conversation.lock:  # waits for a running turn
            if self._conversations.get(conversation_id) is not conversation:
                return  # ended meanwhile
            if idle_only and not self._idle(conversation, time.monotonic()):
                return  # a request came for it meanwhile
            del self._conversations[conversation_id]
            try:
                if conversation.begun:
                    await conversation.session.end()
            except Exception:
                log.exception("conversation %s did not end cleanly", conversation_id)
            finally:
                conversation.session.close()

    def _sweep(self) -> None:
        """End idle conversations, at most once a minute (in the background)."""
        now = time.monotonic()
        if now - self._last_sweep < min(60.0, self.idle_seconds):
            return
        self._last_sweep = now
        for conversation_id, conversation in list(self._conversations.items()):
            if self._idle(conversation, now):
                task = asyncio.create_task(self._end(conversation_id, idle_only=True))
                _background.add(task)
                task.add_done_callback(_background.discard)

    def _idle(self, conversation: _Conversation, now: float) -> bool:
        """Nothing would be lost by ending it: no turn, no listener, nothing kept, no timer."""
        return (
            now - conversation.last_used > self.idle_seconds
            and conversation.busy == 0
            and conversation.listener is None
            and not conversation.kept
            and not conversation.session.pending_reminders()
        )


_background: set[asyncio.Task[None]] = set()  # strong references to running sweeps
