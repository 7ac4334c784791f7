"""`assistant data forget|export|stats` and `assistant learn`: what is kept of conversations.

They work on the files the pipeline's stages use (`--pipeline`, `--models`, `--set` find the
records stage's store and key and the tracker's conversations), and never load a model except
`learn`, which refits the intent model it changes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.commands.common import add_pipeline_options, build_plan
from assistant.core.errors import ConfigError
from assistant.core.paths import default_cache_dir
from assistant.dialogue.store import SQLiteTrackerStore
from assistant.learning.identity import Identity, default_key_path
from assistant.learning.rows import RecordStoreError
from assistant.learning.store import SQLiteRecordStore, default_store_path
from assistant.stages.dst.tracker import TrackerParams
from assistant.stages.dst.tracker import default_store_path as default_tracker_path
from assistant.stages.records.consent import RecordsParams

LEARNED_CACHES = ("fitted", "embeddings")  # under the cache dir, see assistant.nlu


@dataclass(frozen=True)
class Files:
    """Where the pipeline keeps what it knows of people."""

    records: Path
    key: Path
    trackers: Path | None  # None: the tracker keeps conversations in memory only
    chat_history: Path


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    add_pipeline_options(parser, "text")


def pipeline_files(args: argparse.Namespace) -> Files:
    plan = build_plan(args)
    records, key, trackers = default_store_path(), default_key_path(), None
    for stage in plan.stages:
        if isinstance(stage.params, RecordsParams):
            records = stage.params.path or records
            key = stage.params.key or key
        elif isinstance(stage.params, TrackerParams) and stage.params.store == "sqlite":
            trackers = stage.params.path or default_tracker_path()
    state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return Files(records, key, trackers, state / "assistant" / "chat_history")


def open_records(files: Files) -> tuple[SQLiteRecordStore, Identity]:
    """The store and the key, or a one-line error (nothing is created by looking)."""
    if not files.records.exists():
        raise ConfigError(f"{files.records}: no records are kept here yet (nobody consented)")
    try:
        return SQLiteRecordStore(files.records), Identity(files.key, records_path=files.records)
    except RecordStoreError as exc:
        raise ConfigError(str(exc)) from exc


def clear_learned_caches() -> int:
    """Models fitted on learned examples keep their words (the embedding cache keeps texts, a
    CRF its features): drop those caches, rebuilt at the next start. The count of files."""
    removed = 0
    for name in LEARNED_CACHES:
        folder = default_cache_dir() / name
        if folder.is_dir():
            removed += sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
    return removed


def cmd_data_forget(args: argparse.Namespace) -> int:
    files = pipeline_files(args)
    store, identity = open_records(files)
    with store:
        user_key = identity.user_key(args.user)
        if not store.knows_user(user_key):
            raise ConfigError(
                f"--user {args.user}: nothing is kept about this user (check the spelling; "
                "ids are case-sensitive)"
            )
        sessions = store.sessions_of(user_key)
        events = 0
        if files.trackers is not None and files.trackers.exists():
            trackers = SQLiteTrackerStore(files.trackers)
            try:
                events = trackers.delete(sessions)
            finally:
                trackers.close()
        receipt = store.forget_user(user_key)
    counts = dict(receipt.counts, tracker_events=events, cache_files=clear_learned_caches())
    print(f"Forgot user {args.user} ({time.strftime('%Y-%m-%d %H:%M:%S')}):")
    for name, count in counts.items():
        print(f"  {name.replace('_', ' ')}: {count}")
    if files.chat_history.exists():
        print(
            f"  (the terminal's line history {files.chat_history} holds what was typed by "
            "anyone on this computer; delete it too if that should go)"
        )
    return 0


def add_data_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="the conversation records kept with consent")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    forget = actions.add_parser(
        "forget", help="delete everything kept about a user: records, conversations, caches"
    )
    forget.add_argument("--user", required=True, metavar="ID", help="the user to forget")
    add_data_arguments(forget)
    forget.set_defaults(func=cmd_data_forget)
