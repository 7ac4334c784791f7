"""What `assistant data forget|export|stats` and `assistant learn` do (their options are in
`assistant.commands.data`): what is kept of conversations.

They work on the files the pipeline's stages use (`--pipeline`, `--models`, `--set` find the
records stage's store and key and the tracker's conversations), and never load a model except
`learn`, which refits the intent model it changes.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

from assistant.cli import history_file
from assistant.commands.common import build_plan
from assistant.commands.learning import learn_from_store
from assistant.core.config import parse_overrides
from assistant.core.errors import ConfigError, MissingModelError
from assistant.dialogue.store import SQLiteTrackerStore
from assistant.learning.book import forget_user
from assistant.learning.evaluate import DEFAULT_HELDOUT, HeldoutError
from assistant.learning.export import ExportError, export
from assistant.learning.identity import Identity, default_key_path
from assistant.learning.learned import LearnedFolderError
from assistant.learning.rows import RecordStoreError
from assistant.learning.stats import compute, format_stats, plot
from assistant.learning.store import SQLiteRecordStore, default_store_path
from assistant.memory import MemoryStore, MemoryStoreError, default_memory_path
from assistant.stages.dst.tracker import TrackerParams
from assistant.stages.dst.tracker import default_store_path as default_tracker_path
from assistant.stages.memory.sqlite import MemoryParams
from assistant.stages.records.consent import RecordsParams


@dataclass(frozen=True)
class Files:
    """Where the pipeline keeps what it knows of people."""

    records: Path
    key: Path
    trackers: Path | None  # None: the tracker keeps conversations in memory only
    chat_history: Path
    memory: Path = field(default_factory=default_memory_path)
    memory_key: Path = field(default_factory=default_key_path)


def pipeline_files(args: argparse.Namespace) -> Files:
    plan = build_plan(args)
    records, key, trackers = default_store_path(), default_key_path(), None
    memory, memory_key = default_memory_path(), None
    for stage in plan.stages:
        if isinstance(stage.params, RecordsParams):
            records = stage.params.path or records
            key = stage.params.key or key
        elif isinstance(stage.params, TrackerParams) and stage.params.store == "sqlite":
            trackers = stage.params.path or default_tracker_path()
        elif isinstance(stage.params, MemoryParams):
            memory = stage.params.path or memory
            memory_key = stage.params.key
    return Files(records, key, trackers, history_file(), memory, memory_key or key)


def open_records(files: Files) -> tuple[SQLiteRecordStore, Identity]:
    """The store and the key, or a one-line error (nothing is created by looking)."""
    if not files.records.exists():
        raise ConfigError(f"{files.records}: no records are kept here yet (nobody consented)")
    try:
        return SQLiteRecordStore(files.records), Identity(files.key, records_path=files.records)
    except RecordStoreError as exc:
        raise ConfigError(str(exc)) from exc


def cmd_data_forget(args: argparse.Namespace) -> int:
    """Everything kept of the user: their memory, their records and the sessions they name."""
    files = pipeline_files(args)
    memories, memory_sessions = forget_memory(files, args.user)
    records = forget_records(files, args.user, memory_sessions)
    if memories is None and records is None:
        raise ConfigError(
            f"--user {args.user}: nothing is kept about this user (check the spelling; "
            "ids are case-sensitive)"
        )
    counts = records or {"tracker_events": delete_sessions(files, memory_sessions)}
    counts = {"memories": memories or 0, **counts}
    print(f"Forgot user {args.user} ({time.strftime('%Y-%m-%d %H:%M:%S')}):")
    for name, count in counts.items():
        print(f"  {name.replace('_', ' ')}: {count}")
    if files.chat_history.exists():
        print(
            f"  (the terminal's line history {files.chat_history} holds what was typed by "
            "anyone on this computer; delete it too if that should go)"
        )
    return 0


def forget_memory(files: Files, user: str) -> tuple[int | None, list[str]]:
    """What the user asked to be remembered (name, units, facts), for good: the count (None
    when nothing was kept) and the sessions whose dialogue state held some. No store or no key
    yet: nothing was ever remembered (and nothing is created by looking)."""
    if not (files.memory.exists() and files.memory_key.exists()):
        return None, []
    try:
        with MemoryStore(files.memory, key_path=files.memory_key) as store:
            if not store.knows(user):
                return None, []
            sessions = store.sessions_of(user)
            return store.forget_user(user, sessions=True), sessions
    except MemoryStoreError as exc:
        raise ConfigError(str(exc)) from exc


def forget_records(files: Files, user: str, sessions: list[str]) -> dict[str, int] | None:
    """The user's records, exported lines, learned examples and stored sessions (those the
    records name and `sessions`); the counts, or None when no records are kept of this user."""
    if not files.records.exists():
        return None
    store, identity = open_records(files)
    with store:
        user_key = identity.user_key(user)
        if not store.knows_user(user_key):
            return None
        events = delete_sessions(files, sorted({*store.sessions_of(user_key), *sessions}))
        receipt = forget_user(store, user_key)
    return dict(receipt.counts, tracker_events=events)


def delete_sessions(files: Files, sessions: list[str]) -> int:
    """The stored dialogue state of these sessions, overwritten; the count of events."""
    if not sessions or files.trackers is None or not files.trackers.exists():
        return 0
    trackers = SQLiteTrackerStore(files.trackers)
    try:
        return trackers.delete(sessions)
    finally:
        trackers.close()


def cmd_data_export(args: argparse.Namespace) -> int:
    store, _ = open_records(pipeline_files(args))
    with store:
        try:
            result = export(
                store.turns(), store.feedback(), args.format, args.out,
                include_safety=args.include_safety, consent=store.consent,
            )  # fmt: skip
        except (ExportError, MissingModelError) as exc:
            raise ConfigError(str(exc)) from exc
        for path, users in result.manifest.items():  # so that forgetting a user reaches them
            store.add_export(str(path), time.time(), users)
    for path in result.files:
        print(path)
    print(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in result.counts.items()))
    return 0


def cmd_data_stats(args: argparse.Namespace) -> int:
    store, _ = open_records(pipeline_files(args))
    with store:
        stats = compute(store.turns(), store.feedback())
    print("\n".join(format_stats(stats)))
    if args.plot is not None:
        print(f"plot: {plot(stats, args.plot)}")
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    store, _ = open_records(pipeline_files(args))
    with store:
        try:
            result = learn_from_store(
                store, pipeline=args.pipeline, models_path=args.models,
                model=parse_overrides(args.set).get("nlu"), heldout=args.heldout or DEFAULT_HELDOUT,
                min_count=args.min_count,
            )  # fmt: skip
        except (LearnedFolderError, HeldoutError) as exc:
            raise ConfigError(str(exc)) from exc
    print("\n".join(result.lines()))
    return 0
