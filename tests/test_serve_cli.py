"""`assistant serve` as a process: its ready line, loopback unless a token is given, the
conversation kept on disk like `chat --session`, and SIGTERM finishing the turn in flight."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests import slow_stage

ROOT = Path(__file__).resolve().parents[1]
WITH_SLOW_STAGE = "import sys, tests.slow_stage; from assistant.cli import main; sys.exit(main())"


def call(url: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


@contextmanager
def serving(
    command: list[str], env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The server process and its URL, once it says it is ready."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until ready (or the process ends)
        found = re.search(r"http://\S+", line)
        assert found, (line, process.communicate(timeout=30))
        yield process, found.group(0).rstrip("/")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_a_non_loopback_address_without_a_token_is_refused(assistant_bin: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_TOKEN"}
    result = subprocess.run(
        [assistant_bin, "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("assistant: error: --host 0.0.0.0") and "token" in line


def test_sigterm_lets_the_turn_in_flight_finish_then_exits_0(tmp_path: Path) -> None:
    """A fake stage holds the turn for 3 s ('wait 3 ...'); SIGTERM comes while it runs."""
    (tmp_path / "models.yaml").write_text(slow_stage.MODELS)
    (tmp_path / "pipeline.yaml").write_text(slow_stage.PIPELINE)
    command = [
        sys.executable, "-c", WITH_SLOW_STAGE, "serve", "--port", "0",
        "--pipeline", str(tmp_path / "pipeline.yaml"), "--models", str(tmp_path / "models.yaml"),
    ]  # fmt: skip
    with serving(command) as (process, url):
        answers: list[tuple[int, Any]] = []
        turn = threading.Thread(
            target=lambda: answers.append(
                call(
                    url + "/webhooks/rest/webhook",
                    {"sender": "slow", "message": "wait 3 then done"},
                )
            )
        )
        turn.start()
        deadline = time.monotonic() + 30
        while call(url + "/health")[1]["conversations"] == 0:  # the turn has begun
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        turn.join(timeout=60)
        _, stderr = process.communicate(timeout=60)
    assert answers == [(200, [{"recipient_id": "slow", "text": "you said done"}])]
    assert process.returncode == 0, stderr
    assert "finishing the turns in flight" in stderr


@pytest.mark.slow
def test_a_conversation_is_kept_on_disk_like_chat_session(
    assistant_bin: str, tmp_path: Path
) -> None:
    """The default tracker stores by conversation id: what the server was told, `assistant chat
    --session` with the same id knows after the server stopped."""
    sender = f"serve-{os.getpid()}"
    with serving([assistant_bin, "serve", "--port", "0"]) as (process, url):
        status, body = call(
            url + "/webhooks/rest/webhook",
            {"sender": sender, "message": "add kiwis to my shopping list"},
        )
        assert status == 200 and "kiwi" in body[0]["text"].lower(), body
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0
    chat = subprocess.run(
        [assistant_bin, "chat", "--session", sender, "--once", "what's on my shopping list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "kiwi" in chat.stdout.lower(), (chat.stdout, chat.stderr)
