"""A user's machine for tests that run `assistant` as a new process: state, config (and, when
asked, cache) folders of its own, so records, memory and keys are that user's alone."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT


def private_cache(root: Path) -> Path:
    """A cache of its own for models fitted on what users taught (forgetting a user clears
    those), sharing the converted model weights, which hold nobody's words."""
    shared = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "assistant"
    cache = root / "cache" / "assistant"
    cache.mkdir(parents=True)
    for name in ("minilm-onnx", "models", "whisper-base-ct2", "embeddings"):
        if (shared / name).exists() and name != "embeddings":
            (cache / name).symlink_to(shared / name)
        elif name == "embeddings" and (shared / name).exists():
            shutil.copytree(shared / name, cache / name)  # texts of the skills only: a head start
    return cache.parent


class Home:
    """One user's machine: its own state, config and cache folders."""

    def __init__(self, root: Path, consent: str = "ask", own_cache: bool = False) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "XDG_STATE_HOME": str(root / "state"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "ASSISTANT_RECORDS_CONSENT": consent,
        }
        if own_cache:
            self.env["XDG_CACHE_HOME"] = str(private_cache(root))

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """`assistant ARGS` run by this user, from the checkout under test."""
        return subprocess.run(
            [sys.executable, "-m", "assistant.cli", *args], input=stdin, capture_output=True,
            text=True, timeout=600, cwd=ROOT, env={**self.env, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip

    def chat(self, *lines: str, user: str = "alice") -> list[str]:
        """One process, one conversation: the lines printed (a reply per line said)."""
        done = self.run("chat", "--user", user, stdin="\n".join(lines) + "\n")
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    @property
    def memory(self) -> Path:
        return self.root / "state" / "assistant" / "memory.sqlite"

    def state_bytes(self, name: str) -> bytes:
        """A state file's bytes with its journal's (name-wal, name-shm, ...)."""
        path = self.root / "state" / "assistant" / name
        files = [path, *path.parent.glob(name + "-*")]
        return b"".join(p.read_bytes() for p in files if p.exists())

    @property
    def records(self) -> Path:
        return self.root / "state" / "assistant" / "records.sqlite"

    def rows(self, table: str) -> list[dict[str, Any]]:
        db = sqlite3.connect(self.records)
        db.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in db.execute(f"SELECT * FROM {table}")]
        finally:
            db.close()

    def files(self) -> list[Path]:
        return [p for p in (self.root / "state").rglob("*") if p.is_file()]
