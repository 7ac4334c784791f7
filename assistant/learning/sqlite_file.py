"""One SQLite file of personal data, as the record store and the memory store keep theirs.

A rollback journal (no WAL: nothing lingers in a side file once a transaction ends),
`secure_delete` on (deleted rows are overwritten with zeros) and `vacuum` after forgetting, so no
byte of what was forgotten stays in the file. The schema is versioned with `PRAGMA user_version`;
the migrations are applied in order when the file is opened. A file that cannot be used (damaged,
locked, written by a newer assistant, some other database) raises the store's error with one
line saying what to do, and nothing in the file is changed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self


@dataclass(frozen=True)
class Schema:
    """What a store's file holds and how it is named in messages."""

    what: str  # "record store": the start of every message about the file
    tables: frozenset[str]
    # Migration N (1-based) brings a file from user_version N-1 to N. Append, never edit.
    migrations: Sequence[tuple[str, ...]]
    error: type[Exception]  # raised with the one-line message
    own_file: str  # how to end "... is not a <what>": "give the records a file of their own"
    damaged: str  # what to do with a damaged file, after "move it aside"
    pragmas: tuple[str, ...] = ()  # set once the file is known to be the store's
    quick_check: bool = False  # check every page before the first write (slower to open)

    @property
    def version(self) -> int:
        return len(self.migrations)


class SqliteFile:
    """A store's SQLite file; safe to share between threads (one lock). Subclasses give the
    `schema` and read and write through `_read` and `_write`."""

    schema: Schema

    def __init__(self, path: Path, *, timeout: float = 5.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Readable by its owner only (SQLite gives its journal the same mode).
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            self._db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        try:
            with self._errors():
                self._open()
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        """Check the file before the first write, then bring its schema up to date."""
        db, schema = self._db, self.schema
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.version:
            raise schema.error(
                f"{schema.what} {self.path} has schema version {version}, newer than this "
                f"assistant knows ({schema.version}): upgrade the assistant; the file is untouched"
            )
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if (version == 0 and tables) or not tables <= schema.tables:
            raise schema.error(
                f"{self.path} is an SQLite file but not a {schema.what} (tables: "
                f"{', '.join(sorted(tables))}): {schema.own_file}"
            )
        if schema.quick_check:
            problems = [r[0] for r in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(f"database disk image is malformed: {problems[0]}")
        for pragma in ("secure_delete=ON", *schema.pragmas):
            db.execute(f"PRAGMA {pragma}")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "delete":
            db.execute("PRAGMA journal_mode=DELETE")
        for number in range(version + 1, schema.version + 1):
            with self._transaction():
                for statement in schema.migrations[number - 1]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """sqlite3's and the file system's errors as one line saying what to do."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise self.schema.error(self._explain(exc)) from exc
        except OSError as exc:
            raise self.schema.error(
                f"cannot use {self.schema.what} {self.path}: {exc.strerror or exc}; "
                "check the folder exists and is writable"
            ) from exc

    def _explain(self, exc: sqlite3.DatabaseError) -> str:
        text, what = str(exc), f"{self.schema.what} {self.path}"
        if "locked" in text or "busy" in text:
            return (
                f"{what} is locked by another process (an assistant still running?): "
                "stop it or try again; nothing was changed"
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return f"{what} is damaged ({text}): move it aside {self.schema.damaged}"
        return f"cannot use {what} ({text}): check the file and its folder"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so a busy store fails before any change.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # COMMIT itself can fail (busy): never leave it open
                self._db.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors(), self._transaction() as db:
            yield db

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._errors():
            return self._db.execute(sql, args).fetchall()

    def _vacuum(self) -> None:
        """Compact the file: the pages freed by a deletion leave it."""
        with self._lock, self._errors():
            self._db.execute("VACUUM")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
