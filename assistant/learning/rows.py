"""What the record store holds: consent answers, anonymized turns and feedback on them.

Users are never named here: `user_key` is a keyed HMAC of the user id (`identity.py`), whose key
lives apart from the records. Conversations are named by a `conversation_key`, an HMAC of the
session id under the same key, so the records alone link a user's turns but name nobody.
Texts in `TurnRow` and `FeedbackRow` are anonymized before they get here (`anonymize.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ConsentKind = Literal["records", "audio"]
ConsentAnswer = Literal["granted", "declined", "withdrawn"]
FeedbackKind = Literal["good", "bad", "flag", "correction", "confirmed"]
JSON = dict[str, Any]


@dataclass(frozen=True)
class ConsentRow:
    """One answer of a user to the consent question (the latest per kind counts)."""

    user_key: str
    kind: ConsentKind
    answer: ConsentAnswer
    policy_version: int
    wording: str  # the words the user answered, as they were at that version
    at: float  # unix time


@dataclass(frozen=True)
class TurnRow:
    """One consented turn, anonymized: the user's words and the reply with `<PERSON_1>`-style
    pseudonyms, consistent within the conversation."""

    conversation_key: str
    turn: int
    user_key: str
    at: float
    user_text: str
    reply_text: str
    intent: str | None = None
    confidence: float | None = None
    entities: list[JSON] = field(default_factory=list)  # personal values anonymized
    sentiment: JSON | None = None
    guard: JSON | None = None  # {"rule", "score", "refused"}
    filter: list[JSON] = field(default_factory=list)  # what the guard and filter changed
    timings_ms: JSON = field(default_factory=dict)
    models: JSON = field(default_factory=dict)  # stage kind -> model name
    config_hash: str = ""  # sha256 of the pipeline's plan
    audio: bytes | None = None  # 16 kHz 16-bit mono PCM, only with audio consent

    @property
    def safety_fired(self) -> bool:
        """The guard refused or changed the words, or the filter changed the reply."""
        return bool((self.guard or {}).get("refused")) or bool(self.filter)


@dataclass(frozen=True)
class FeedbackRow:
    """A rating, flag or correction of the reply of turn `turn`. `correction` is what the user
    meant (anonymized): "no, I meant add milk" -> "add milk"; `corrected_intent` the intent it
    was understood as once corrected, when known."""

    conversation_key: str
    turn: int
    user_key: str
    kind: FeedbackKind
    at: float
    comment: str = ""
    correction: str = ""
    corrected_intent: str | None = None


@dataclass(frozen=True)
class ForgetReceipt:
    """What `forget_user` removed, by kind (consents, turns, feedback, sessions, exports...)."""

    counts: dict[str, int]


class RecordStoreError(RuntimeError):
    """The store cannot be used (corrupt, locked, from a newer version); the message says what
    to do, in one line."""


class RecordStore(Protocol):
    """The record store's interface; SQLite here, PostgreSQL in the scale-out issue."""

    def add_consent(self, row: ConsentRow) -> None: ...
    def consent(self, user_key: str, kind: ConsentKind = "records") -> ConsentRow | None:
        """The user's latest answer of that kind, or None when never asked."""
        ...

    def add_session(self, session_id: str, user_key: str, at: float) -> None:
        """Which user a session (a conversation's tracker) belongs to, kept whatever the
        consent, so that forgetting the user can remove the tracker too."""
        ...

    def sessions_of(self, user_key: str) -> list[str]: ...
    def add_turn(self, row: TurnRow) -> None: ...
    def add_feedback(self, row: FeedbackRow) -> None: ...
    def turns(self) -> list[TurnRow]:
        """Every turn, by conversation then turn."""
        ...

    def feedback(self) -> list[FeedbackRow]: ...
    def add_export(self, path: str, at: float, user_keys: dict[str, list[int]]) -> None:
        """An export written to `path` (a file): for each user key the lines (0-based) that
        came from that user, so that forgetting the user can remove them."""
        ...

    def forget_user(self, user_key: str) -> ForgetReceipt:
        """Remove every row of the user (and their lines in export files); nothing of their
        text may be left in the database file afterwards (secure_delete, vacuum)."""
        ...

    def expire(self, before: float) -> int:
        """Delete turns and feedback older than `before` (unix time); the count removed."""
        ...

    def close(self) -> None: ...
