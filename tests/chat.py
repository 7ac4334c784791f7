"""What the tests that drive `assistant chat` share: a chat run as a user types it, and a real
rasa-sdk action server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.ports import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
Turn = dict[str, Any]


def chat_run(
    assistant_bin: str,
    lines: list[str],
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> tuple[list[Turn], str]:
    """`assistant chat --json ARGS` with the lines piped in: the turns printed (proactive ones
    left out) and what went to stderr. A non-zero exit fails the test with its stderr."""
    result = subprocess.run(
        [assistant_bin, "chat", "--json", *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    return [t for t in turns if not t.get("proactive")], result.stderr


def chat(assistant_bin: str, lines: list[str], *args: str, timeout: float = 300) -> list[Turn]:
    """The turns of `chat_run`."""
    return chat_run(assistant_bin, lines, *args, timeout=timeout)[0]


@contextmanager
def action_server(actions: str, cwd: Path = ROOT) -> Iterator[str]:
    """A real rasa-sdk action server serving the `actions` module, started in `cwd` as
    `rasa run actions` would be; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", actions, "-p", str(port)],
        cwd=cwd,
        env={**os.environ, "SANIC_HOST": "127.0.0.1", "PYTHONPATH": f"{cwd}:{ROOT}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
