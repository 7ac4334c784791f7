"""Where trackers live between turns and between runs.

The SQLite store is the default: every event is one row, appended as it happens, so a session
survives a restart of the assistant (`--session ID`). The in-memory store is for tests and for
users who want nothing written to disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from assistant.dialogue.events import Event, event_from_json


class TrackerStore(Protocol):
    def load(self, session_id: str) -> list[Event]: ...

    def append(self, session_id: str, events: Sequence[Event]) -> None: ...


class InMemoryTrackerStore:
    def __init__(self) -> None:
        self._events: dict[str, list[Event]] = {}

    def load(self, session_id: str) -> list[Event]:
        return list(self._events.get(session_id, ()))

    def append(self, session_id: str, events: Sequence[Event]) -> None:
        self._events.setdefault(session_id, []).extend(events)


class SQLiteTrackerStore:
    """Append-only event log in one SQLite file. Safe to share between the stages' threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events ("
            " session_id TEXT NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " data TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS events_session ON events(session_id, seq)")

    def load(self, session_id: str) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
            ).fetchall()
        return [event_from_json(json.loads(data)) for (data,) in rows]

    def append(self, session_id: str, events: Sequence[Event]) -> None:
        rows = [(session_id, json.dumps(e.to_json(), ensure_ascii=False)) for e in events]
        with self._lock, self._db:
            self._db.executemany("INSERT INTO events (session_id, data) VALUES (?, ?)", rows)

    def delete(self, session_ids: Sequence[str]) -> int:
        """Remove the sessions for good: their events are overwritten, not just unlinked, and
        the write-ahead log is emptied, so no byte of them stays in the files. The count."""
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")
            with self._db:
                removed = sum(
                    self._db.execute("DELETE FROM events WHERE session_id = ?", (s,)).rowcount
                    for s in session_ids
                )
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def close(self) -> None:
        with self._lock:
            self._db.close()
