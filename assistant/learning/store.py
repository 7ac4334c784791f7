"""The record store on SQLite: consents, sessions, anonymized turns, feedback, export manifests.

One file, rollback journal (no WAL: nothing of a user lingers in a side file once a transaction
ends), `secure_delete` on (deleted rows are overwritten with zeros) and a VACUUM after forgetting
a user, so no byte of their text stays in the file. The schema is versioned with
`PRAGMA user_version`; `MIGRATIONS` are applied in order when a store is opened. A store that
cannot be used (damaged, locked, written by a newer assistant, not a record store at all) raises
`RecordStoreError` with one line saying what to do, and nothing in the file is changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.core.paths import default_state_dir
from assistant.learning.manifest import forget_lines, line_hashes
from assistant.learning.rows import (
    ConsentKind,
    ConsentRow,
    FeedbackRow,
    ForgetReceipt,
    RecordStore,
    RecordStoreError,
    TurnRow,
)
from assistant.learning.sqlite_file import Schema, SqliteFile

# Migration N (1-based) brings a store from user_version N-1 to N. Append, never edit.
MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: the tables
        "CREATE TABLE consents (user_key TEXT NOT NULL, kind TEXT NOT NULL,"
        " answer TEXT NOT NULL, policy_version INTEGER NOT NULL, wording TEXT NOT NULL,"
        " at REAL NOT NULL)",
        "CREATE TABLE sessions (session_id TEXT NOT NULL, user_key TEXT NOT NULL,"
        " at REAL NOT NULL, PRIMARY KEY (session_id, user_key))",
        "CREATE TABLE turns (conversation_key TEXT NOT NULL, turn INTEGER NOT NULL,"
        " user_key TEXT NOT NULL, at REAL NOT NULL, user_text TEXT NOT NULL,"
        " reply_text TEXT NOT NULL, intent TEXT, confidence REAL, entities TEXT NOT NULL,"
        " sentiment TEXT, guard TEXT, filter TEXT NOT NULL, timings_ms TEXT NOT NULL,"
        " models TEXT NOT NULL, config_hash TEXT NOT NULL, audio BLOB,"
        " PRIMARY KEY (conversation_key, turn))",
        "CREATE TABLE feedback (id INTEGER PRIMARY KEY, conversation_key TEXT NOT NULL,"
        " turn INTEGER NOT NULL, user_key TEXT NOT NULL, kind TEXT NOT NULL, at REAL NOT NULL,"
        " comment TEXT NOT NULL, correction TEXT NOT NULL, corrected_intent TEXT)",
        "CREATE TABLE exports (id INTEGER PRIMARY KEY, path TEXT NOT NULL, at REAL NOT NULL)",
        # A hash of each line, not its index: lines are found again after other users' lines
        # were removed, and a line edited by hand is not mistaken for somebody else's.
        "CREATE TABLE export_lines (export_id INTEGER NOT NULL REFERENCES exports(id),"
        " user_key TEXT NOT NULL, line_hash TEXT NOT NULL)",
    ),
    (  # 2: what forget_user and expire look rows up by
        "CREATE INDEX consents_user ON consents(user_key, kind, at)",
        "CREATE INDEX sessions_user ON sessions(user_key)",
        "CREATE INDEX turns_user ON turns(user_key)",
        "CREATE INDEX turns_at ON turns(at)",
        "CREATE INDEX feedback_user ON feedback(user_key)",
        "CREATE INDEX feedback_at ON feedback(at)",
        "CREATE INDEX export_lines_user ON export_lines(user_key, export_id)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = frozenset({"consents", "sessions", "turns", "feedback", "exports", "export_lines"})

_TURN_COLUMNS = (
    "conversation_key, turn, user_key, at, user_text, reply_text, intent, confidence, entities,"
    " sentiment, guard, filter, timings_ms, models, config_hash, audio"
)
_TURN_NAMES = tuple(name.strip() for name in _TURN_COLUMNS.split(","))
_JSON_FIELDS = ("entities", "sentiment", "guard", "filter", "timings_ms", "models")


def default_store_path() -> Path:
    return default_state_dir() / "records.sqlite"


RECORDS = Schema(
    what="record store",
    tables=TABLES,
    migrations=MIGRATIONS,
    error=RecordStoreError,
    own_file="give the records a file of their own",
    damaged="(`sqlite3 FILE .recover` may save its rows) and a new one is made; the file was "
    "left as it is",
    pragmas=("foreign_keys=ON",),
    quick_check=True,
)


class SQLiteRecordStore(SqliteFile):
    """The `RecordStore` on one SQLite file; safe to share between threads (one lock)."""

    schema = RECORDS

    def __init__(self, path: Path | None = None, *, timeout: float = 5.0) -> None:
        super().__init__(path if path is not None else default_store_path(), timeout=timeout)

    # -- consents and sessions ----------------------------------------------------------------

    def add_consent(self, row: ConsentRow) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO consents VALUES (?, ?, ?, ?, ?, ?)",
                (row.user_key, row.kind, row.answer, row.policy_version, row.wording, row.at),
            )

    def consent(self, user_key: str, kind: ConsentKind = "records") -> ConsentRow | None:
        rows = self._read(
            "SELECT user_key, kind, answer, policy_version, wording, at FROM consents"
            " WHERE user_key = ? AND kind = ? ORDER BY at DESC, rowid DESC LIMIT 1",
            (user_key, kind),
        )
        return ConsentRow(*rows[0]) if rows else None

    def add_session(self, session_id: str, user_key: str, at: float) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO sessions VALUES (?, ?, ?)", (session_id, user_key, at)
            )

    def sessions_of(self, user_key: str) -> list[str]:
        rows = self._read(
            "SELECT session_id FROM sessions WHERE user_key = ? ORDER BY at, session_id",
            (user_key,),
        )
        return [r[0] for r in rows]

    def knows_user(self, user_key: str) -> bool:
        """Anything at all kept of this user (so `forget` can say the id is unknown)."""
        tables = ("consents", "sessions", "turns", "feedback", "export_lines")
        sql = " UNION ALL ".join(f"SELECT 1 FROM {t} WHERE user_key = ?" for t in tables)
        return bool(self._read(f"SELECT EXISTS ({sql})", (user_key,) * len(tables))[0][0])

    # -- turns and feedback -------------------------------------------------------------------

    def add_turn(self, row: TurnRow) -> None:
        """Writing a turn again (same conversation and turn) replaces it."""
        values = [getattr(row, name) for name in _TURN_NAMES]
        for i, name in enumerate(_TURN_NAMES):
            if name in _JSON_FIELDS and values[i] is not None:
                values[i] = json.dumps(values[i], ensure_ascii=False, sort_keys=True)
        with self._write() as db:
            db.execute(
                f"INSERT OR REPLACE INTO turns ({_TURN_COLUMNS})"
                f" VALUES ({', '.join('?' * len(values))})",
                values,
            )

    def turns(self) -> list[TurnRow]:
        """Every turn, conversations in the order they began, each in turn order."""
        rows = self._read(
            f"SELECT {_TURN_COLUMNS} FROM turns ORDER BY"
            " MIN(at) OVER (PARTITION BY conversation_key), conversation_key, turn"
        )
        out = []
        for row in rows:
            values = dict(zip(_TURN_NAMES, row, strict=True))
            for name in _JSON_FIELDS:
                if values[name] is not None:
                    values[name] = json.loads(values[name])
            out.append(TurnRow(**values))
        return out

    def add_feedback(self, row: FeedbackRow) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO feedback (conversation_key, turn, user_key, kind, at, comment,"
                " correction, corrected_intent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.conversation_key,
                    row.turn,
                    row.user_key,
                    row.kind,
                    row.at,
                    row.comment,
                    row.correction,
                    row.corrected_intent,
                ),
            )

    def feedback(self) -> list[FeedbackRow]:
        rows = self._read(
            "SELECT conversation_key, turn, user_key, kind, at, comment, correction,"
            " corrected_intent FROM feedback ORDER BY at, id"
        )
        return [FeedbackRow(*row) for row in rows]

    # -- exports, forgetting, retention ---------------------------------------------------------

    def add_export(self, path: str, at: float, user_keys: dict[str, list[int]]) -> None:
        """Remember which lines of the export file at `path` came from which user (the file
        must be written already: its lines are read to recognise them later)."""
        file = Path(path).absolute()
        try:
            hashes = line_hashes(file.read_bytes())
        except OSError as exc:
            raise RecordStoreError(
                f"cannot read export {file} ({exc.strerror}): record an export after writing it"
            ) from exc
        wanted = [(key, i) for key, lines in user_keys.items() for i in lines]
        if any(not 0 <= i < len(hashes) for _, i in wanted):
            raise RecordStoreError(
                f"export {file} has {len(hashes)} lines but the manifest names others: "
                "record an export only after writing it whole"
            )
        with self._write() as db:
            export_id = db.execute(
                "INSERT INTO exports (path, at) VALUES (?, ?)", (str(file), at)
            ).lastrowid
            db.executemany(
                "INSERT INTO export_lines VALUES (?, ?, ?)",
                [(export_id, key, hashes[i]) for key, i in wanted],
            )

    def forget_user(self, user_key: str) -> ForgetReceipt:
        """Remove the user's lines from the export files, then every row of theirs, then
        compact the file. Safe to run again after a failure part way. The user's sessions
        go too: ask `sessions_of` first to delete their trackers."""
        manifests: dict[str, set[str]] = {}
        for path, line_hash in self._read(
            "SELECT e.path, l.line_hash FROM export_lines l JOIN exports e ON e.id = l.export_id"
            " WHERE l.user_key = ?",
            (user_key,),
        ):
            manifests.setdefault(path, set()).add(line_hash)
        counts = dict.fromkeys(("export_lines", "export_files", "export_files_missing"), 0)
        for path, hashes in manifests.items():
            try:
                removed = forget_lines(Path(path), hashes)
            except OSError as exc:
                raise RecordStoreError(
                    f"cannot take the user's lines out of export {path} ({exc.strerror}): "
                    "make it writable (or delete it) and forget again; no record was removed yet"
                ) from exc
            if removed is None:
                counts["export_files_missing"] += 1
            elif removed:
                counts["export_lines"] += removed
                counts["export_files"] += 1
        with self._write() as db:
            for table in ("consents", "sessions", "turns", "feedback"):
                cursor = db.execute(f"DELETE FROM {table} WHERE user_key = ?", (user_key,))
                counts[table] = cursor.rowcount
            db.execute("DELETE FROM export_lines WHERE user_key = ?", (user_key,))
            db.execute(
                "DELETE FROM exports WHERE id NOT IN (SELECT DISTINCT export_id FROM export_lines)"
            )
        self._vacuum()
        return ForgetReceipt(counts)

    def expire(self, before: float) -> int:
        """Turns and feedback older than `before` go (their bytes zeroed by secure_delete);
        consents and sessions stay: they are the basis of what remains and of forgetting."""
        with self._write() as db:
            removed = db.execute("DELETE FROM turns WHERE at < ?", (before,)).rowcount
            removed += db.execute("DELETE FROM feedback WHERE at < ?", (before,)).rowcount
        if removed:
            self._vacuum()
        return removed


if TYPE_CHECKING:  # mypy checks the store against the interface the other parts use
    _implements: type[RecordStore] = SQLiteRecordStore
