"""`assistant serve` as a process: its ready line, loopback unless a token is given, the
conversation kept on disk like `chat --session`, and SIGTERM finishing the turn in flight."""

from __future__ import annotations

import asyncio
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
from wyoming.asr import Transcript as WyomingTranscript
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled
from wyoming.info import Describe, Info

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


def test_serve_with_wyoming_answers_home_assistant_on_the_same_conversations(
    assistant_bin: str,
) -> None:
    """`--wyoming` serves Home Assistant's protocol beside HTTP: its conversation agent and the
    REST channel share conversations by id."""
    from wyoming.handle import Handled
    from wyoming.info import Info

    command = [
        assistant_bin, "serve", "--port", "0", "--voice", "none", "--set", "dst=tracker-memory",
        "--wyoming", "tcp://127.0.0.1:0",
    ]  # fmt: skip
    with serving(command) as (process, url):
        assert process.stdout is not None
        wyoming = re.search(r"tcp://127\.0\.0\.1:(\d+)", process.stdout.readline())
        assert wyoming, "no Wyoming address"
        port = int(wyoming.group(1))
        added = {"sender": "kitchen", "message": "add pears to my list"}
        call(url + "/webhooks/rest/webhook", added)

        async def ask() -> tuple[Info, Handled]:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                info = Info.from_event(await _next(client, Info))
            async with AsyncTcpClient("127.0.0.1", port) as client:
                transcript = WyomingTranscript(
                    text="what's on my shopping list", context={"conversation_id": "kitchen"}
                )
                await client.write_event(transcript.event())
                handled = Handled.from_event(await _next(client, Handled))
            return info, handled

        info, handled = asyncio.run(ask())
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert info.asr and info.tts and info.handle
    assert "pear" in (handled.text or "").lower(), handled
    assert process.returncode == 0


async def _next(client: Any, kind: Any) -> Any:
    while True:
        event = await asyncio.wait_for(client.read_event(), 60)
        assert event is not None, "the connection closed"
        if kind.is_type(event.type):
            return event
