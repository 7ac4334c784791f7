"""A stage that crashes during a WebSocket conversation: only that turn gets the apology (and an
`error` event), and the conversation goes on. The voice pipeline here is the real VAD and speech
recognizer before the fake parser that raises on 'boom' (machinery, not a feature)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.runner import Pipeline
from assistant.pipeline import plan_pipeline
from assistant.server.http import make_app
from assistant.server.hub import ConversationHub
from assistant.server.voice_link import VoiceService
from assistant.server.ws import add_voice_routes
from assistant.session import APOLOGY
from tests import fakes  # noqa: F401  (registers the fake stages)
from tests.test_pipeline import MODELS
from tests.test_ws import Event, next_event, of, until_turn, ws_url

T = TypeVar("T")
VOICE_WITH_FAKES = """
input: audio
skills: []
stages:
  - {kind: vad, model: silero}
  - {kind: asr, model: whisper-tiny-en}
  - {kind: test-nlu, model: words}
  - {kind: test-respond, model: echo}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("faults")
    (folder / "models.yaml").write_text(MODELS)
    (folder / "voice.yaml").write_text(VOICE_WITH_FAKES)
    catalog = {**load_models(DEFAULT_MODELS), **load_models(folder / "models.yaml")}
    plan = plan_pipeline(
        load_pipeline(folder / "voice.yaml"), folder / "voice.yaml", catalog, DEFAULT_MODELS
    )
    loop = asyncio.new_event_loop()  # the server's, in a thread; each test's client has its own
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=300)

    pipeline = Pipeline(plan)
    call(pipeline.start())
    app = make_app(ConversationHub(pipeline))  # the hub is not used here: /ws only
    add_voice_routes(app, VoiceService(pipeline))
    runner = web.AppRunner(app, access_log=None)
    call(runner.setup())
    call(web.TCPSite(runner, "127.0.0.1", 0).start())
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    call(runner.cleanup())
    call(pipeline.stop())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_a_crashing_stage_costs_only_its_turn_an_apology(served: str) -> None:
    async def scenario() -> tuple[list[Event], list[Event]]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(served, conversation="crash-1")) as ws,
        ):
            await next_event(ws)
            await ws.send_json({"type": "text", "text": "boom now"})
            crashed, _ = await until_turn(ws)
            await ws.send_json({"type": "text", "text": "hello there"})
            fine, _ = await until_turn(ws)
            return crashed, fine

    crashed, fine = asyncio.run(scenario())
    assert [e["text"] for e in of(crashed, "reply")] == [APOLOGY]
    (error,) = of(crashed, "error")
    assert "test-nlu failed" in error["error"] and error["turn"] == 1
    assert [e["stage"] for e in of(crashed, "turn")[0]["record"]["errors"]] == ["test-nlu"]
    assert [e["text"] for e in of(fine, "reply")] == ["you said hello"]  # the first word
    assert not of(fine, "error")
