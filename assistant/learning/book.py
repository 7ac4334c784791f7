"""The records of one assistant process: who consented, and the anonymized turns and feedback
of those who did, written by one worker thread so that no turn waits for them.

Everything that touches the store runs on that thread, in the order it was asked for (a rating
of turn 3 is stored after turn 3 itself). `keep` hands a finished turn's record over and returns
at once; the rest return futures.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from assistant.learning.anonymize import Pseudonymizer
from assistant.learning.consent import ConsentMode, ConsentPolicy, answer_counts
from assistant.learning.identity import Identity
from assistant.learning.idle import IdleQueue
from assistant.learning.learned import clear_learned_caches, forget_learned
from assistant.learning.rows import (
    ConsentAnswer,
    ConsentKind,
    ConsentRow,
    FeedbackKind,
    FeedbackRow,
    ForgetReceipt,
    RecordStore,
    TurnRow,
)
from assistant.learning.store import SQLiteRecordStore

log = logging.getLogger(__name__)
R = TypeVar("R")
JSON = dict[str, Any]
CONVERSATIONS_REMEMBERED = 1000  # pseudonym tables kept for conversations still going on
DAY = 86400.0
RECORDS_NICENESS = 10


@dataclass(frozen=True)
class BookSettings:
    mode: ConsentMode
    store_path: Path
    key_path: Path
    policy: ConsentPolicy
    audio: bool = False
    retention_days: int | None = None


class RecordsBook:
    def __init__(self, settings: BookSettings) -> None:
        self.settings = settings
        self.policy = settings.policy
        self.mode = settings.mode
        self.identity = Identity(settings.key_path, records_path=settings.store_path)
        self._worker = ThreadPoolExecutor(
            1, thread_name_prefix="records", initializer=_run_behind_turns
        )
        self._store: SQLiteRecordStore | None = None
        self._names: OrderedDict[str, Pseudonymizer] = OrderedDict()
        self._idle = IdleQueue(self._worker)
        self._forgotten: dict[str, float] = {}  # user key -> when forgotten, in this process
        self.submit(self._open).result()  # a corrupt or locked store is an error at start

    # --- on the worker thread ----------------------------------------------------------------

    def submit(self, fn: Callable[..., R], *args: Any) -> Future[R]:
        return self._worker.submit(fn, *args)

    @property
    def store(self) -> SQLiteRecordStore:
        assert self._store is not None, "use the store on the records thread"
        return self._store

    def _open(self) -> None:
        self._store = SQLiteRecordStore(self.settings.store_path)
        if self.settings.retention_days is not None:
            removed = self._store.expire(time.time() - self.settings.retention_days * DAY)
            if removed:
                log.info(
                    "records: %d older than %d days deleted", removed, self.settings.retention_days
                )

    def answer_of(self, user: str, kind: ConsentKind = "records") -> ConsentAnswer | None:
        """The user's answer to the current wording; None when they have not given one."""
        return answer_counts(self.store.consent(self.identity.user_key(user), kind), self.policy)

    def consented_at(self, user: str) -> float | None:
        row = self.store.consent(self.identity.user_key(user), "records")
        return row.at if row is not None and row.answer == "granted" else None

    def recording(self, user: str, kind: ConsentKind = "records") -> bool:
        if self.mode == "off" or (kind == "audio" and not self.settings.audio):
            return False
        if self.mode == "granted":  # agreed beforehand, unless they said otherwise here
            row = self.store.consent(self.identity.user_key(user), kind)
            return row is None or row.answer == "granted"
        return self.answer_of(user, kind) == "granted"

    def must_ask(self, user: str) -> bool:
        return self.mode == "ask" and self.answer_of(user) is None

    def answer(self, user: str, answer: ConsentAnswer, kind: ConsentKind = "records") -> None:
        row = ConsentRow(
            user_key=self.identity.user_key(user),
            kind=kind,
            answer=answer,
            policy_version=self.policy.version,
            wording=self.policy.wording(kind),
            at=time.time(),
        )
        self.store.add_consent(row)

    def started(self, user: str, session_id: str) -> None:
        """Note whose the session is (not personal: both are kept as keyed hashes or random
        ids), so that forgetting the user also finds the session's dialogue state."""
        if self.mode == "off":
            return  # nothing is kept: nothing to forget
        self.store.add_session(session_id, self.identity.user_key(user), time.time())

    def feedback(
        self,
        user: str,
        session_id: str,
        turn: int,
        kind: FeedbackKind,
        comment: str = "",
        correction: str = "",
        corrected_intent: str | None = None,
    ) -> bool:
        """Store a rating of (or a correction to) turn `turn`; False when not recording."""
        if not self.recording(user):
            return False
        conversation = self.identity.conversation_key(session_id)
        names = self._pseudonyms(conversation)
        self.store.add_feedback(
            FeedbackRow(
                conversation_key=conversation,
                turn=turn,
                user_key=self.identity.user_key(user),
                kind=kind,
                at=time.time(),
                comment=names.anonymize(comment) if comment else "",
                correction=names.anonymize(correction) if correction else "",
                corrected_intent=corrected_intent,
            )
        )
        return True

    def forget(self, user: str) -> ForgetReceipt:
        """Everything recorded of the user, and the examples their corrections taught (with
        the caches fitted on them)."""
        user_key = self.identity.user_key(user)
        self._forgotten[user_key] = time.time()
        return forget_user(self.store, user_key)

    def write_turn(
        self,
        user: str,
        session_id: str,
        record: JSON,
        plan: JSON,
        audio: bytes | None,
        said_at: float,
    ) -> None:
        """Write a turn the user consented to when it was said, unless they were forgotten
        since (a turn's record may come after a later turn's "forget my data")."""
        user_key = self.identity.user_key(user)
        if self._forgotten.get(user_key, 0.0) >= said_at:
            return
        conversation = self.identity.conversation_key(session_id)
        names = self._pseudonyms(conversation)
        row = turn_row(record, plan, names, conversation, user_key)
        if audio is not None and self.recording(user, "audio"):
            row = replace(row, audio=audio)
        self.store.add_turn(row)

    def _pseudonyms(self, conversation: str) -> Pseudonymizer:
        names = self._names.pop(conversation, None) or Pseudonymizer()
        self._names[conversation] = names
        while len(self._names) > CONVERSATIONS_REMEMBERED:
            self._names.popitem(last=False)
        return names

    # --- from any thread -----------------------------------------------------------------------

    def keep(
        self,
        user: str,
        session_id: str,
        record: JSON,
        plan: JSON,
        audio: bytes | None = None,
        said_at: float | None = None,
    ) -> None:
        """Write a turn the user consented to, later, on the records thread (its audio only
        with `audio` configured and the user's separate yes to it)."""
        said_at = time.time() if said_at is None else said_at
        self._idle.put(
            functools.partial(self.write_turn, user, session_id, record, plan, audio, said_at)
        )

    def turn_began(self) -> None:
        """A turn is being understood: turns are written only in the pauses between them."""
        self._idle.turn_began()

    def close(self) -> None:
        """Write what is queued, then close the store."""
        self._worker.submit(self._close).result()
        self._worker.shutdown()

    def _close(self) -> None:
        self._idle.flush()
        if self._store is not None:
            self._store.close()
            self._store = None


def forget_user(store: RecordStore, user_key: str) -> ForgetReceipt:
    """The store's rows and export lines of the user, then what learning kept of them."""
    receipt = store.forget_user(user_key)
    taught = forget_learned(user_key)
    caches = clear_learned_caches() if taught else 0
    return ForgetReceipt({**receipt.counts, "learned_examples": taught, "cache_files": caches})


def _run_behind_turns() -> None:
    """The records thread yields the CPU to the turns' threads (Linux schedules each thread
    apart): anonymizing a turn then never delays the next one on a busy two-core machine."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RECORDS_NICENESS)


def turn_row(
    record: dict[str, Any],
    plan: dict[str, Any],
    names: Pseudonymizer,
    conversation: str,
    user_key: str,
) -> TurnRow:
    """The anonymized row of a turn's `--json` record."""
    intent = record.get("intent") or {}
    # The words first: a name said there is the known pseudonym when an entity repeats it.
    user_text = names.anonymize(str(record.get("input") or ""))
    reply_text = names.anonymize(str(record.get("text") or ""))
    entities = names.anonymize_json(list(record.get("entities") or []))
    return TurnRow(
        conversation_key=conversation,
        turn=int(record["turn"]),
        user_key=user_key,
        at=time.time(),
        user_text=user_text,
        reply_text=reply_text,
        intent=intent.get("name"),
        confidence=intent.get("confidence"),
        entities=entities,
        sentiment=record.get("sentiment"),
        guard=record.get("guard"),
        filter=[
            {k: v for k, v in change.items() if k != "replacement"}
            for change in record.get("filter") or []
        ],
        timings_ms=dict(record.get("timings_ms") or {}),
        models=dict(plan.get("models") or {}),
        config_hash=str(plan.get("config_hash") or ""),
    )
