"""The SQLite record store and the HMAC identity: rows round-trip, forgetting leaves no byte of
the user's text in the store or the exports, bad files fail clearly and stay untouched, old
schemas are migrated."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assistant.learning.identity import Identity, default_key_path
from assistant.learning.rows import ConsentRow, FeedbackRow, RecordStoreError, TurnRow
from assistant.learning.store import MIGRATIONS, SCHEMA_VERSION, SQLiteRecordStore


def turn(user: str, conv: str, n: int, text: str, at: float = 1000.0, **kw: object) -> TurnRow:
    return TurnRow(
        conversation_key=conv,
        turn=n,
        user_key=user,
        at=at,
        user_text=text,
        reply_text=f"reply to {text}",
        **kw,  # type: ignore[arg-type]
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_files(folder: Path) -> list[Path]:
    """The database and any side file SQLite may have left next to it."""
    return [p for p in folder.iterdir() if p.name.startswith("records.sqlite")]


@pytest.fixture
def store(tmp_path: Path):
    with SQLiteRecordStore(tmp_path / "records.sqlite") as s:
        yield s


# -- rows -----------------------------------------------------------------------------------


def test_rows_round_trip(store: SQLiteRecordStore) -> None:
    full = turn(
        "u1",
        "c1",
        0,
        "add milk",
        at=5.0,
        intent="add_item",
        confidence=0.42,
        entities=[{"entity": "item", "value": "milk"}],
        sentiment={"label": "neutral"},
        guard={"rule": "none", "score": 0.1, "refused": False},
        filter=[{"changed": "x"}],
        timings_ms={"nlu": 3.5},
        models={"nlu": "minilm"},
        config_hash="abc",
        audio=b"\x00\x01" * 100,
    )
    store.add_turn(turn("u1", "c2", 1, "later turn", at=9.0))
    store.add_turn(turn("u1", "c2", 0, "later conversation", at=8.0))
    store.add_turn(full)
    store.add_turn(turn("u1", "c1", 1, "second", at=6.0))
    assert store.turns()[0] == full
    # Conversations in the order they began, each in turn order.
    assert [(t.conversation_key, t.turn) for t in store.turns()] == [
        ("c1", 0),
        ("c1", 1),
        ("c2", 0),
        ("c2", 1),
    ]
    store.add_turn(turn("u1", "c1", 1, "second, rewritten", at=6.0))
    assert [t.user_text for t in store.turns()][1] == "second, rewritten"
    assert len(store.turns()) == 4

    fb = FeedbackRow(
        "c1",
        0,
        "u1",
        "correction",
        7.0,
        comment="no",
        correction="add oat milk",
        corrected_intent="add_item",
    )
    store.add_feedback(FeedbackRow("c1", 1, "u1", "good", 7.5))
    store.add_feedback(fb)
    assert store.feedback() == [fb, FeedbackRow("c1", 1, "u1", "good", 7.5)]


def test_latest_consent_counts_and_sessions(store: SQLiteRecordStore) -> None:
    assert store.consent("u1") is None
    assert not store.knows_user("u1")
    store.add_consent(ConsentRow("u1", "records", "granted", 1, "May I keep...", 10.0))
    store.add_consent(ConsentRow("u1", "audio", "declined", 1, "And audio?", 11.0))
    store.add_consent(ConsentRow("u1", "records", "withdrawn", 2, "Stop recording", 12.0))
    latest = store.consent("u1")
    assert latest is not None and (latest.answer, latest.policy_version) == ("withdrawn", 2)
    audio = store.consent("u1", "audio")
    assert audio is not None and audio.answer == "declined"
    assert store.knows_user("u1")

    store.add_session("s-b", "u1", 2.0)
    store.add_session("s-a", "u1", 1.0)
    store.add_session("s-a", "u1", 3.0)  # the same session again is one session
    store.add_session("s-c", "u2", 1.0)
    assert store.sessions_of("u1") == ["s-a", "s-b"]
    assert store.sessions_of("nobody") == []


def test_rows_kept_across_reopen_and_threads(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    store = SQLiteRecordStore(path)

    def write(worker: int) -> None:
        for n in range(25):
            store.add_turn(turn(f"u{worker}", f"c{worker}", n, f"w{worker} t{n}", at=worker))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    with SQLiteRecordStore(path) as again:
        assert len(again.turns()) == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.sqlite"]  # no WAL left


def test_another_process_forgets_while_a_store_is_open(tmp_path: Path) -> None:
    """`assistant data forget` runs while the assistant (serve) keeps the store open."""
    path = tmp_path / "records.sqlite"
    running = SQLiteRecordStore(path)
    running.add_turn(turn("u1", "c1", 0, "PELICANSECRET hello"))
    running.add_turn(turn("u2", "c2", 0, "other user"))
    code = (
        "import sys; from pathlib import Path;"
        "from assistant.learning.store import SQLiteRecordStore;"
        "s = SQLiteRecordStore(Path(sys.argv[1])); print(s.forget_user('u1').counts['turns'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1"
    assert [t.user_key for t in running.turns()] == ["u2"]  # the open store sees the change
    running.add_turn(turn("u2", "c2", 1, "still writing"))
    running.close()
    assert b"PELICANSECRET" not in path.read_bytes()


# -- forgetting and retention ---------------------------------------------------------------


def plant(store: SQLiteRecordStore, user: str, secret: str, conversations: int = 30) -> None:
    """Many turns (some long enough for overflow pages) with `secret` in every text field."""
    store.add_consent(ConsentRow(user, "records", "granted", 1, "May I keep...", 1.0))
    for c in range(conversations):
        conv = f"{user}-conv{c}"
        store.add_session(f"{user}-session{c}", user, 1.0)
        for n in range(5):
            long = f" {secret} padding" * (400 if n == 0 else 1)
            store.add_turn(
                turn(
                    user,
                    conv,
                    n,
                    f"{secret} said {c}/{n}{long}",
                    at=100.0 + c,
                    entities=[{"entity": "item", "value": f"{secret}-entity"}],
                    audio=f"{secret}-audio".encode() * 3,
                )
            )
        store.add_feedback(
            FeedbackRow(
                conv,
                0,
                user,
                "correction",
                101.0 + c,
                comment=f"{secret} comment",
                correction=f"{secret} fix",
            )
        )


def write_export(path: Path, lines: list[tuple[str, str]]) -> dict[str, list[int]]:
    """A JSON Lines export; the manifest of which user each line came from."""
    path.write_text("".join(json.dumps({"text": text}) + "\n" for _, text in lines))
    manifest: dict[str, list[int]] = {}
    for i, (user, _) in enumerate(lines):
        manifest.setdefault(user, []).append(i)
    return manifest


def test_forget_user_leaves_no_byte_of_their_text(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    exports = tmp_path / "exports"
    exports.mkdir()
    a, b = "a" * 64, "b" * 64
    secret_a, secret_b = "ZEBRAQUARTZ", "OTTERMAPLE"
    store = SQLiteRecordStore(folder / "records.sqlite")
    plant(store, a, secret_a)
    plant(store, b, secret_b)
    mixed = exports / "sft.jsonl"
    lines = [
        (a if i % 3 == 0 else b, f"{secret_a if i % 3 == 0 else secret_b} line {i}")
        for i in range(30)
    ]
    store.add_export(str(mixed), 200.0, write_export(mixed, lines))
    only_a = exports / "kto.jsonl"
    store.add_export(
        str(only_a), 200.0, write_export(only_a, [(a, f"{secret_a} {i}") for i in range(4)])
    )
    # The check below would see the text if it were there.
    assert secret_a.encode() in (folder / "records.sqlite").read_bytes()

    receipt = store.forget_user(a)

    assert receipt.counts == {
        "consents": 1,
        "sessions": 30,
        "turns": 150,
        "feedback": 30,
        "export_lines": 14,
        "export_files": 2,
        "export_files_missing": 0,
    }
    for file in store_files(folder):
        data = file.read_bytes()
        assert secret_a.encode() not in data, file
        assert a.encode() not in data, file  # not even the user's key
        assert secret_b.encode() in data
    assert secret_a not in mixed.read_text() and only_a.read_text() == ""
    assert [json.loads(x)["text"] for x in mixed.read_text().splitlines()] == [
        text for user, text in lines if user == b
    ]
    assert not store.knows_user(a) and store.sessions_of(a) == []
    assert {t.user_key for t in store.turns()} == {b}
    assert len(store.turns()) == 150 and len(store.feedback()) == 30

    # Lines are recognised by content, so the other user's go too though they moved up.
    assert store.forget_user(b).counts["export_lines"] == 20
    assert mixed.read_text() == ""
    assert store.turns() == [] and store.feedback() == []
    store.close()
    assert secret_b.encode() not in (folder / "records.sqlite").read_bytes()


def test_forget_again_and_with_an_export_gone(store: SQLiteRecordStore, tmp_path: Path) -> None:
    gone = tmp_path / "gone.jsonl"
    store.add_export(str(gone), 1.0, write_export(gone, [("u1", "x"), ("u2", "y")]))
    kept = tmp_path / "kept.jsonl"
    store.add_export(str(kept), 1.0, write_export(kept, [("u1", "x1"), ("u2", "y1")]))
    gone.unlink()
    store.add_turn(turn("u1", "c", 0, "hello"))
    counts = store.forget_user("u1").counts
    assert (counts["turns"], counts["export_files_missing"], counts["export_lines"]) == (1, 1, 1)
    assert json.loads(kept.read_text()) == {"text": "y1"}
    assert set(store.forget_user("u1").counts.values()) == {0}  # nothing left, nothing fails


def test_export_manifest_must_match_the_file(store: SQLiteRecordStore, tmp_path: Path) -> None:
    out = tmp_path / "dpo.jsonl"
    write_export(out, [("u1", "x")])
    with pytest.raises(RecordStoreError, match="has 1 lines"):
        store.add_export(str(out), 1.0, {"u1": [0, 1]})
    with pytest.raises(RecordStoreError, match=r"missing\.jsonl"):
        store.add_export(str(tmp_path / "missing.jsonl"), 1.0, {"u1": [0]})


def test_expire_removes_old_turns_and_feedback(store: SQLiteRecordStore) -> None:
    store.add_consent(ConsentRow("u1", "records", "granted", 1, "May I?", 1.0))
    for n, at in enumerate((10.0, 20.0, 30.0)):
        store.add_turn(turn("u1", "c", n, f"turn {n}", at=at))
        store.add_feedback(FeedbackRow("c", n, "u1", "good", at + 1))
    assert store.expire(21.0) == 3  # turns at 10 and 20, feedback at 11
    assert [t.turn for t in store.turns()] == [2]
    assert [f.turn for f in store.feedback()] == [1, 2]
    assert store.consent("u1") is not None
    assert store.expire(0.0) == 0


# -- files that cannot be used --------------------------------------------------------------


def one_line_error(path: Path, **kw: float) -> str:
    with pytest.raises(RecordStoreError) as info:
        SQLiteRecordStore(path, **kw)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_file_that_is_no_database(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    before = digest(path)
    assert "damaged" in one_line_error(path)
    assert digest(path) == before


def test_a_damaged_database(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    with SQLiteRecordStore(path) as store:
        for n in range(200):
            store.add_turn(turn("u1", "c", n, f"text {n} " * 50))
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page : 6 * page] = os.urandom(3 * page)  # table pages, header intact
    path.write_bytes(bytes(data))
    before = digest(path)
    assert "damaged" in one_line_error(path)
    assert digest(path) == before


def test_a_locked_database(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    with SQLiteRecordStore(path) as store:
        store.add_turn(turn("u1", "c", 0, "hello"))
    before = digest(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert "locked by another process" in one_line_error(path, timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert digest(path) == before

    # Locked while open: a write fails the same way and the rows stay.
    store = SQLiteRecordStore(path, timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RecordStoreError, match="locked by another process"):
            store.add_turn(turn("u1", "c", 1, "again"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [t.user_text for t in store.turns()] == ["hello"]
    store.close()


def test_a_store_from_a_newer_assistant(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    with SQLiteRecordStore(path) as store:
        store.add_turn(turn("u1", "c", 0, "hello"))
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = digest(path)
    assert "upgrade the assistant" in one_line_error(path)
    assert digest(path) == before


def test_an_sqlite_file_of_something_else(tmp_path: Path) -> None:
    path = tmp_path / "trackers.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (session_id TEXT, data TEXT)")
    before = digest(path)
    assert "not a record store" in one_line_error(path)
    assert digest(path) == before


def test_a_version_1_store_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    with sqlite3.connect(path) as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute(
            "INSERT INTO turns VALUES ('c', 0, 'u1', 5.0, 'add milk', 'Added milk.', 'add_item',"
            " 0.9, '[]', NULL, NULL, '[]', '{}', '{}', 'h', NULL)"
        )
        db.execute("PRAGMA user_version = 1")
    with SQLiteRecordStore(path) as store:
        assert [(t.user_text, t.intent) for t in store.turns()] == [("add milk", "add_item")]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"turns_user", "turns_at", "export_lines_user"} <= indexes


# -- identity -------------------------------------------------------------------------------


def test_identity_key_is_private_stable_and_apart(tmp_path: Path) -> None:
    key_path = tmp_path / "config" / "assistant" / "records.key"
    records = tmp_path / "state" / "assistant" / "records.sqlite"
    one = Identity(key_path, records_path=records)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key_path.read_text())) == 32
    two = Identity(key_path)
    assert one.user_key("alice") == two.user_key("alice") != two.user_key("bob")
    assert len(one.user_key("alice")) == 64 and "alice" not in one.user_key("alice")
    assert one.user_key("x") != one.conversation_key("x")
    assert one.conversation_key("s1") == two.conversation_key("s1")
    other = Identity(tmp_path / "elsewhere.key")
    assert other.user_key("alice") != one.user_key("alice")

    with pytest.raises(RecordStoreError, match="must not be in the records' folder"):
        Identity(records.with_name("records.key"), records_path=records)


def test_identity_refuses_a_readable_or_damaged_key(tmp_path: Path) -> None:
    key_path = tmp_path / "records.key"
    Identity(key_path)
    key_path.chmod(0o644)
    with pytest.raises(RecordStoreError, match="chmod 600"):
        Identity(key_path)
    key_path.write_text("not a key\n")
    key_path.chmod(0o600)
    with pytest.raises(RecordStoreError, match="damaged"):
        Identity(key_path)
    assert key_path.read_text() == "not a key\n"  # never replaced: the old records need it


def test_default_key_path_is_in_the_config_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_key_path() == tmp_path / "assistant" / "records.key"
    Identity()
    assert (tmp_path / "assistant" / "records.key").exists()


def test_processes_creating_the_key_at_once_agree_on_one(tmp_path: Path) -> None:
    key_path = tmp_path / "config" / "records.key"
    code = (
        "import sys; from pathlib import Path; from assistant.learning.identity import Identity;"
        "print(Identity(Path(sys.argv[1])).user_key('alice'))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(key_path)], stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    keys = {p.communicate()[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert keys == {Identity(key_path).user_key("alice").encode()}
    assert [p.name for p in key_path.parent.iterdir()] == ["records.key"]  # no partial left
