"""What `assistant data forget|export|stats` and `assistant learn` do (their options are in
`assistant.commands.data`): what is kept of conversations.

They work on the files the pipeline's stages use (`--pipeline`, `--models`, `--set` find the
records stage's store and key and the tracker's conversations), and never load a model except
`learn`, which refits the intent model it changes.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
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
from assistant.stages.dst.tracker import TrackerParams
from assistant.stages.dst.tracker import default_store_path as default_tracker_path
from assistant.stages.records.consent import RecordsParams


@dataclass(frozen=True)
class Files:
    """Where the pipeline keeps what it knows of people."""

    records: Path
    key: Path
    trackers: Path | None  # None: the tracker keeps conversations in memory only
    chat_history: Path


def pipeline_files(args: argparse.Namespace) -> Files:
    plan = build_plan(args)
    records, key, trackers = default_store_path(), default_key_path(), None
    for stage in plan.stages:
        if isinstance(stage.params, RecordsParams):
            records = stage.params.path or records
            key = stage.params.key or key
        elif isinstance(stage.params, TrackerParams) and stage.params.store == "sqlite":
            trackers = stage.params.path or default_tracker_path()
    return Files(records, key, trackers, history_file())


def open_records(files: Files) -> tuple[SQLiteRecordStore, Identity]:
    """The store and the key, or a one-line error (nothing is created by looking)."""
    if not files.records.exists():
        raise ConfigError(f"{files.records}: no records are kept here yet (nobody consented)")
    try:
        return SQLiteRecordStore(files.records), Identity(files.key, records_path=files.records)
    except RecordStoreError as exc:
        raise ConfigError(str(exc)) from exc


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
        receipt = forget_user(store, user_key)
    counts = dict(receipt.counts, tracker_events=events)
    print(f"Forgot user {args.user} ({time.strftime('%Y-%m-%d %H:%M:%S')}):")
    for name, count in counts.items():
        print(f"  {name.replace('_', ' ')}: {count}")
    if files.chat_history.exists():
        print(
            f"  (the terminal's line history {files.chat_history} holds what was typed by "
            "anyone on this computer; delete it too if that should go)"
        )
    return 0


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
