"""Per-user memory on SQLite: the name a user wants to be called, their preferred units and the
facts they asked to be remembered, each with when it was said.

Users are found by the keyed HMAC of their id (`assistant.learning.identity`, the records' key),
so the file alone names nobody. Forgetting is for good: `secure_delete` overwrites deleted rows
with zeros, the journal is a rollback journal (no WAL file that would keep old pages) and the
file is compacted after every deletion, so no byte of a forgotten memory stays in it. A store
that cannot be used (damaged, locked, written by a newer assistant, not a memory store) raises
`MemoryStoreError` with one line saying what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from assistant.core.paths import default_state_dir
from assistant.learning.identity import Identity, default_key_path
from assistant.learning.rows import RecordStoreError
from assistant.learning.sqlite_file import Schema, SqliteFile

Kind = Literal["name", "units", "fact"]
UnitSystem = Literal["metric", "imperial"]
UNIT_SYSTEMS: tuple[UnitSystem, ...] = ("metric", "imperial")
MAX_FACTS = 200  # per user: memory is for a few things that matter, not a diary
MAX_TEXT = 500  # characters of one remembered thing

# Migration N (1-based) brings a store from user_version N-1 to N. Append, never edit.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        "CREATE TABLE memories (id INTEGER PRIMARY KEY, user_key TEXT NOT NULL,"
        " kind TEXT NOT NULL CHECK (kind IN ('name', 'units', 'fact')),"
        " value TEXT NOT NULL, at REAL NOT NULL)",
        "CREATE INDEX memories_user ON memories(user_key, kind, at)",
        # The conversations whose dialogue state holds memory the user set (the tracker stores
        # the actions' slots with the session): `assistant data forget` deletes them too.
        "CREATE TABLE sessions (user_key TEXT NOT NULL, session_id TEXT NOT NULL,"
        " PRIMARY KEY (user_key, session_id))",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = frozenset({"memories", "sessions"})


class MemoryStoreError(RuntimeError):
    """The memory store cannot be used; the message says what to do. Nothing was changed."""


def default_memory_path() -> Path:
    return default_state_dir() / "memory.sqlite"


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing the user asked to be remembered, in their words, and when they said it."""

    text: str
    at: float


@dataclass(frozen=True)
class Memory:
    """What is remembered of one user; `*_at` say when each was said (epoch seconds)."""

    name: str | None = None
    name_at: float | None = None
    units: UnitSystem | None = None
    units_at: float | None = None
    facts: tuple[Fact, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return self.name is None and self.units is None and not self.facts


MEMORY = Schema(
    what="memory store",
    tables=TABLES,
    migrations=MIGRATIONS,
    error=MemoryStoreError,
    own_file="give the memory a file of its own",
    damaged="and a new one is made (what was remembered is then lost); the file was left as it is",
)


class MemoryStore(SqliteFile):
    """The memories of every user in one SQLite file; safe to share between threads."""

    schema = MEMORY

    def __init__(
        self, path: Path | None = None, *, key_path: Path | None = None, timeout: float = 5.0
    ) -> None:
        self.path = path if path is not None else default_memory_path()
        try:
            self.identity = Identity(key_path or default_key_path(), records_path=self.path)
        except RecordStoreError as exc:
            raise MemoryStoreError(str(exc)) from exc
        super().__init__(self.path, timeout=timeout)

    def _key(self, user: str) -> str:
        return self.identity.user_key(user)

    # -- reading ------------------------------------------------------------------------------

    def recall(self, user: str) -> Memory:
        rows = self._read(
            "SELECT kind, value, at FROM memories WHERE user_key = ? ORDER BY at, id",
            (self._key(user),),
        )
        single: dict[str, tuple[str, float]] = {}
        facts = []
        for kind, value, at in rows:
            if kind == "fact":
                facts.append(Fact(value, at))
            else:
                single[kind] = (value, at)
        name, name_at = single.get("name", (None, None))
        units, units_at = single.get("units", (None, None))
        return Memory(
            name=name,
            name_at=name_at,
            units=units if units in UNIT_SYSTEMS else None,
            units_at=units_at if units in UNIT_SYSTEMS else None,
            facts=tuple(facts),
        )

    def knows(self, user: str) -> bool:
        """Anything kept of the user: memories, or sessions that held some."""
        rows = self._read(
            "SELECT EXISTS (SELECT 1 FROM memories WHERE user_key = ?"
            " UNION ALL SELECT 1 FROM sessions WHERE user_key = ?)",
            (self._key(user),) * 2,
        )
        return bool(rows[0][0])

    def sessions_of(self, user: str) -> list[str]:
        rows = self._read(
            "SELECT session_id FROM sessions WHERE user_key = ? ORDER BY session_id",
            (self._key(user),),
        )
        return [r[0] for r in rows]

    def note_session(self, user: str, session_id: str) -> None:
        """The session's dialogue state now holds memory of the user (the actions' slots)."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO sessions VALUES (?, ?)", (self._key(user), session_id)
            )

    # -- writing ------------------------------------------------------------------------------

    def set_name(self, user: str, name: str, at: float) -> None:
        self._set_single(user, "name", _clean(name, "name"), at)

    def set_units(self, user: str, units: str, at: float) -> None:
        if units not in UNIT_SYSTEMS:
            raise ValueError(f"unit system {units!r}: expected one of {', '.join(UNIT_SYSTEMS)}")
        self._set_single(user, "units", units, at)

    def _set_single(self, user: str, kind: Kind, value: str, at: float) -> None:
        key = self._key(user)
        with self._write() as db:
            removed = db.execute(
                "DELETE FROM memories WHERE user_key = ? AND kind = ?", (key, kind)
            ).rowcount
            db.execute(
                "INSERT INTO memories (user_key, kind, value, at) VALUES (?, ?, ?, ?)",
                (key, kind, value, at),
            )
        if removed:
            self._vacuum()  # the old value is gone for good, not just unlinked

    def remember(self, user: str, text: str, at: float) -> Fact:
        """Keep a fact; one already kept (same words, case aside) is returned as it was."""
        text = _clean(text, "fact")
        for fact in self.recall(user).facts:
            if fact.text.casefold() == text.casefold():
                return fact
        key = self._key(user)
        with self._write() as db:
            count = db.execute(
                "SELECT COUNT(*) FROM memories WHERE user_key = ? AND kind = 'fact'", (key,)
            ).fetchone()[0]
            if count >= MAX_FACTS:
                raise ValueError(f"{MAX_FACTS} things are remembered already: forget some first")
            db.execute(
                "INSERT INTO memories (user_key, kind, value, at) VALUES (?, 'fact', ?, ?)",
                (key, text, at),
            )
        return Fact(text, at)

    def forget(self, user: str, kind: Kind, text: str | None = None) -> int:
        """Forget the user's name or units, or the fact with these words (`text`). The count."""
        key = self._key(user)
        with self._write() as db:
            if kind == "fact":
                removed = db.execute(
                    "DELETE FROM memories WHERE user_key = ? AND kind = 'fact'"
                    " AND lower(value) = lower(?)",
                    (key, text or ""),
                ).rowcount
            else:
                removed = db.execute(
                    "DELETE FROM memories WHERE user_key = ? AND kind = ?", (key, kind)
                ).rowcount
        if removed:
            self._vacuum()
        return int(removed)

    def forget_user(self, user: str, *, sessions: bool = False) -> int:
        """Everything remembered of the user, overwritten and compacted away; with `sessions`
        the notes of their sessions too (ask `sessions_of` first). The count of memories."""
        key = self._key(user)
        with self._write() as db:
            removed = db.execute("DELETE FROM memories WHERE user_key = ?", (key,)).rowcount
            if sessions:
                db.execute("DELETE FROM sessions WHERE user_key = ?", (key,))
        self._vacuum()
        return int(removed)


def _clean(text: str, what: str) -> str:
    cleaned = " ".join(str(text).split())
    if not cleaned:
        raise ValueError(f"an empty {what} cannot be remembered")
    return cleaned[:MAX_TEXT]
