"""The WebSocket `/ws` on a real server (127.0.0.1, an ephemeral port) over the real text and
voice pipelines (their trackers on one SQLite store, as `assistant serve` has them), loaded once for
the module: typed and spoken turns answered
in text and audio, and bad input answered with an error (or the close code it calls for)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.runner import Pipeline
from assistant.dialogue.events import FeedbackGiven
from assistant.pipeline import plan_pipeline
from assistant.server.http import make_app
from assistant.server.hub import ConversationHub
from assistant.server.voice_link import VoiceService
from assistant.server.ws import add_voice_routes
from assistant.session import TurnRecord
from tests.speech import conversation

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token"
MAX_MESSAGE = 16 * 1024
T = TypeVar("T")
Event = dict[str, Any]


def plan(name: str) -> Any:
    path = ROOT / "pipelines" / f"{name}.yaml"
    models = load_models(DEFAULT_MODELS)
    return plan_pipeline(
        load_pipeline(path), path, models, DEFAULT_MODELS, {"dst": "tracker"}
    )  # the SQLite store under the tests' own XDG_STATE_HOME (conftest)


class Server:
    """Both pipelines, a hub and three apps on one event loop in a thread: open, with a token,
    and one whose send queue is tiny (the slow-client test)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.records: list[tuple[str, TurnRecord]] = []
        self.call(self._start())

    def call(self, coroutine: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=300)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self.text = Pipeline(plan("text"))
        self.voice = Pipeline(plan("voice"))
        await self.text.start()
        await self.voice.start()
        self.hub = ConversationHub(self.text)
        self.service = VoiceService(self.voice)
        self.service.observers.append(lambda cid, record: self.records.append((cid, record)))
        self.runners: list[web.AppRunner] = []
        self.url = await self._site(make_app(self.hub), send_queue=256)
        self.token_url = await self._site(make_app(self.hub, token=TOKEN), send_queue=256)
        self.slow_url = await self._site(make_app(self.hub), send_queue=4)
        self.no_voice_url = await self._site(make_app(self.hub), send_queue=4, voice=False)

    async def _site(self, app: web.Application, send_queue: int, voice: bool = True) -> str:
        service = self.service if voice else None
        add_voice_routes(app, service, max_message=MAX_MESSAGE, send_queue=send_queue)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        await self.hub.close()
        await self.text.stop()
        await self.voice.stop()

    def close(self) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


def ws_url(base: str, **query: str) -> str:
    url = base.replace("http://", "ws://") + "/ws"
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


async def next_event(ws: aiohttp.ClientWebSocketResponse, timeout: float = 60) -> Event:
    """The next JSON event, skipping audio."""
    while True:
        message = await ws.receive(timeout)
        if message.type == aiohttp.WSMsgType.TEXT:
            event: Event = json.loads(message.data)
            return event
        assert message.type == aiohttp.WSMsgType.BINARY, message


async def until_turn(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[Event], bytes]:
    """Every event and all the audio up to the end of a turn (its `turn` event)."""
    events: list[Event] = []
    audio = bytearray()
    while True:
        message = await ws.receive(90)
        if message.type == aiohttp.WSMsgType.BINARY:
            audio += message.data
            continue
        assert message.type == aiohttp.WSMsgType.TEXT, message
        events.append(json.loads(message.data))
        if events[-1]["type"] == "turn":
            return events, bytes(audio)


def of(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e["type"] == kind]


def run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_a_typed_turn_is_answered_in_text_and_audio(server: Server) -> None:
    async def scenario() -> tuple[Event, list[Event], bytes]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="typed-1")) as ws,
        ):
            ready = await next_event(ws)
            await ws.send_json({"type": "text", "text": "what is 17 times 23"})
            events, audio = await until_turn(ws)
            return ready, events, audio

    ready, events, audio = run(scenario())
    assert ready == {
        "type": "ready",
        "conversation": "typed-1",
        "audio": {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1},
    }
    assert [e["text"] for e in of(events, "transcript")] == ["what is 17 times 23"]
    replies = " ".join(e["text"] for e in of(events, "reply"))
    assert "391" in replies
    timings = of(events, "timings")[0]["timings_ms"]
    # Begun after the speech recognizer: every stage after it took part (the guard too).
    assert "asr" not in timings and "vad" not in timings
    assert {"guard", "sentiment", "nlu", "tts"} <= set(timings)
    record = of(events, "turn")[0]["record"]
    assert record["session"] == "typed-1" and "391" in record["text"]
    assert record["input"] == "what is 17 times 23"
    assert len(audio) % 2 == 0
    samples = np.frombuffer(audio, dtype="<i2")
    assert len(samples) > 16000 * 0.5 and np.abs(samples).max() > 1000  # speech, not silence


def test_a_spoken_request_in_real_time_is_answered(server: Server) -> None:
    speech = conversation(1.0, "what time is it", 2.0).pcm

    async def scenario() -> tuple[list[Event], bytes]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="spoken-1")) as ws,
        ):
            await next_event(ws)
            collect = asyncio.ensure_future(until_turn(ws))
            loop = asyncio.get_running_loop()
            start, block = loop.time(), 640  # 20 ms a frame, as a browser sends them
            for index in range(0, len(speech), block):
                await ws.send_bytes(speech[index : index + block])
                await asyncio.sleep(max(0.0, start + (index + block) / 32000 - loop.time()))
            return await collect

    events, audio = run(scenario())
    transcripts = of(events, "transcript")
    assert "time" in transcripts[-1]["text"].lower() and transcripts[-1]["final"]
    # The words as they stood at the pause came first: speculative ASR's draft, shown partial.
    assert [t["final"] for t in transcripts] == [False] * (len(transcripts) - 1) + [True]
    assert len(transcripts) >= 2
    reply = " ".join(e["text"] for e in of(events, "reply"))
    assert reply and "sorry" not in reply.lower()
    record = of(events, "turn")[0]["record"]
    assert record["audio"]["voice_to_voice_ms"] is not None
    assert "asr" in of(events, "timings")[0]["timings_ms"]
    assert len(audio) > 16000  # half a second of reply at least


def test_bad_json_and_unknown_types_get_an_error_and_the_connection_goes_on(
    server: Server,
) -> None:
    async def scenario() -> list[Event]:
        async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(server.url)) as ws:
            await next_event(ws)
            await ws.send_str("{not json")
            events = [await next_event(ws)]
            await ws.send_json({"type": "dance"})
            events.append(await next_event(ws))
            await ws.send_json(["text", "hello"])
            events.append(await next_event(ws))
            await ws.send_json({"type": "text", "text": "   "})
            events.append(await next_event(ws))
            await ws.send_json({"type": "hello"})
            events.append(await next_event(ws))  # still answered
            return events

    bad_json, unknown, not_object, empty, hello = run(scenario())
    assert bad_json["type"] == "error" and "not valid JSON" in bad_json["error"]
    assert unknown["type"] == "error" and "unknown message type 'dance'" in unknown["error"]
    assert not_object["type"] == "error" and '"type"' in not_object["error"]
    assert empty["type"] == "error" and "empty" in empty["error"]
    assert hello["type"] == "hello"


def test_audio_in_the_wrong_format_gets_an_error(server: Server) -> None:
    async def scenario() -> list[Event]:
        async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(server.url)) as ws:
            await next_event(ws)
            await ws.send_bytes(b"\x00" * 1001)
            events = [await next_event(ws)]
            await ws.send_bytes(b"RIFF" + b"\x00" * 100)
            events.append(await next_event(ws))
            await ws.send_json({"type": "hello", "audio": {"sample_rate": 44100}})
            events.append(await next_event(ws))
            return events

    odd, wav, rate = run(scenario())
    assert odd["type"] == "error" and "odd length" in odd["error"]
    assert wav["type"] == "error" and "not a WAV file" in wav["error"]
    assert rate["type"] == "error" and "16000 Hz" in rate["error"]


def test_an_oversize_message_closes_the_socket_with_1009(server: Server) -> None:
    async def scenario() -> int | None:
        async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(server.url)) as ws:
            await next_event(ws)
            await ws.send_bytes(b"\x00" * (MAX_MESSAGE + 2))
            while (await ws.receive(30)).type not in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            ):
                pass
            return ws.close_code

    assert run(scenario()) == 1009


def test_a_token_is_required_before_the_upgrade(server: Server) -> None:
    async def scenario() -> tuple[int, str, Event]:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url(server.token_url, token="wrong"))
            async with http.get(server.token_url + "/ws") as response:
                body = await response.json()
            async with http.ws_connect(ws_url(server.token_url, token=TOKEN)) as ws:
                ready = await next_event(ws)
            return refused.value.status, body["error"], ready

    status, error, ready = run(scenario())
    assert status == 401 and "token" in error
    assert ready["type"] == "ready"


def test_a_client_gone_mid_turn_leaves_the_turn_done_and_nothing_running(
    server: Server,
) -> None:
    async def scenario() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="gone-1")) as ws,
        ):
            await next_event(ws)
            await ws.send_json({"type": "text", "text": "what is 6 times 7"})
        # closed before any reply

    before = len(server.records)
    run(scenario())

    async def settled() -> list[str]:
        for _ in range(600):
            if not any(link.conversation_id == "gone-1" for link in server.service.links):
                break
            await asyncio.sleep(0.05)
        return [link.conversation_id for link in server.service.links]

    assert "gone-1" not in server.call(settled())
    done = [r for cid, r in server.records[before:] if cid == "gone-1"]
    assert len(done) == 1 and "42" in done[0].text


def test_feedback_is_stored_as_a_tracker_event_of_the_conversation(server: Server) -> None:
    async def scenario() -> list[Event]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="rated-1")) as ws,
        ):
            await next_event(ws)
            await ws.send_json({"type": "feedback", "turn": 1, "rating": "up"})
            events = [await next_event(ws)]  # no turn yet
            await ws.send_json({"type": "text", "text": "hello"})
            await until_turn(ws)
            await ws.send_json({"type": "feedback", "turn": 1, "rating": "down", "comment": "rude"})
            events.append(await next_event(ws))
            await ws.send_json({"type": "feedback", "turn": 1, "rating": "meh"})
            events.append(await next_event(ws))
            return events

    early, stored, bad = run(scenario())
    assert early["type"] == "error" and "has not happened" in early["error"]
    assert stored == {"type": "feedback", "turn": 1, "rating": "down", "comment": "rude"}
    assert bad["type"] == "error" and "up, down, flag" in bad["error"]
    tracker = next(s for s in server.voice.stages if s.kind == "dst")

    async def stored_feedback() -> list[FeedbackGiven]:
        for _ in range(100):  # the tracker stage stores it in its turn
            kept = [e for e in tracker.store.load("rated-1") if isinstance(e, FeedbackGiven)]
            if kept:
                break
            await asyncio.sleep(0.05)
        return kept

    kept = server.call(stored_feedback())
    assert kept == [FeedbackGiven(turn=1, rating="down", comment="rude")]
    assert FeedbackGiven.from_wire(kept[0].to_json()) == kept[0]


def test_a_conversation_lives_on_one_front_end_at_a_time(server: Server) -> None:
    """HTTP is refused (409) while /ws holds the id, and each side goes on from what the
    other added: the two pipelines' trackers never hold diverging states of it."""
    turns = f"{server.url}/conversations/both-1/turns"

    async def say(http: aiohttp.ClientSession, text: str) -> tuple[int, Any]:
        async with http.post(turns, json={"text": text}) as response:
            return response.status, await response.json()

    async def scenario() -> tuple[int, Any, list[Event], Any]:
        async with aiohttp.ClientSession() as http:
            assert (await say(http, "add milk to my shopping list"))[0] == 200
            async with http.ws_connect(ws_url(server.url, conversation="both-1")) as ws:
                await next_event(ws)
                status, refused = await say(http, "add tea to my shopping list")
                await ws.send_json({"type": "text", "text": "add eggs to my shopping list"})
                await until_turn(ws)
                await ws.send_json({"type": "text", "text": "what's on my shopping list"})
                events, _ = await until_turn(ws)
            for _ in range(100):  # the connection's end is the server's to finish
                later = await say(http, "what's on my shopping list")
                if later[0] != 409:
                    break
                await asyncio.sleep(0.1)
            return status, refused, events, later

    status, refused, events, (later_status, later) = run(scenario())
    assert status == 409 and "open on a /ws connection" in refused["error"], refused
    on_ws = " ".join(e["text"] for e in of(events, "reply")).lower()
    assert "milk" in on_ws and "eggs" in on_ws and "tea" not in on_ws, on_ws
    assert later_status == 200, later
    assert "milk" in later["text"].lower() and "eggs" in later["text"].lower(), later


def test_a_client_that_stops_reading_is_disconnected(server: Server) -> None:
    before = server.service.slow_clients

    async def scenario() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.slow_url, conversation="slow-1"), max_msg_size=0) as ws,
        ):
            await next_event(ws)
            for _ in range(60):  # reads nothing from here on
                if server.service.slow_clients > before:
                    return
                try:
                    await ws.send_json({"type": "text", "text": "tell me a joke"})
                except (ConnectionError, RuntimeError):
                    return
                await asyncio.sleep(0.5)

    run(scenario())
    assert server.service.slow_clients == before + 1


def test_interrupt_stops_the_reply_being_spoken(server: Server) -> None:
    async def scenario() -> list[Event]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="stopped-1")) as ws,
        ):
            await next_event(ws)
            await ws.send_json({"type": "text", "text": "tell me a joke"})
            events: list[Event] = []
            while (message := await ws.receive(60)).type != aiohttp.WSMsgType.BINARY:
                events.append(json.loads(message.data))  # until its audio begins
            await ws.send_json({"type": "interrupt"})
            while events[-1]["type"] != "turn":
                events.append(await next_event(ws))
            return events

    events = run(scenario())
    assert of(events, "interrupted")
    assert of(events, "turn")[0]["record"]["interrupted"] is True


def test_the_page_and_its_files_need_the_token_and_the_page_passes_it_on(server: Server) -> None:
    async def scenario() -> tuple[int, int, str, int]:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.token_url + "/") as response:
                bare = response.status
            async with http.get(server.token_url + "/static/app.js") as response:
                script = response.status
            async with http.get(server.token_url + f"/?token={TOKEN}") as response:
                page = await response.text()
            async with http.get(server.token_url + f"/static/worklet.js?token={TOKEN}") as response:
                worklet = response.status
            return bare, script, page, worklet

    bare, script, page, worklet = run(scenario())
    assert bare == script == 401
    assert f'src="/static/app.js?token={TOKEN}"' in page and worklet == 200


def test_concurrent_conversations_get_only_their_own_replies(server: Server) -> None:
    async def ask(conversation: str, text: str) -> list[Event]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation=conversation)) as ws,
        ):
            await next_event(ws)
            await ws.send_json({"type": "text", "text": text})
            return (await until_turn(ws))[0]

    async def scenario() -> tuple[list[Event], list[Event], int]:
        first, second = await asyncio.gather(
            ask("pair-a", "what is 12 times 12"), ask("pair-b", "what is 11 times 11")
        )
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="pair-c")) as ws,
        ):
            await next_event(ws)
            with pytest.raises(aiohttp.WSServerHandshakeError) as taken:
                await http.ws_connect(ws_url(server.url, conversation="pair-c"))
        return first, second, taken.value.status

    first, second, status = run(scenario())
    first_text = " ".join(e["text"] for e in of(first, "reply"))
    second_text = " ".join(e["text"] for e in of(second, "reply"))
    assert "144" in first_text and "121" not in first_text
    assert "121" in second_text and "144" not in second_text
    assert {e["record"]["session"] for e in of(first, "turn")} == {"pair-a"}
    assert status == 409  # one connection per conversation at a time


async def proactive_event(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> tuple[Event, int]:
    """The next `proactive` event, and how many bytes of audio came with it (within a second)."""
    while True:
        event = await next_event(ws, timeout)
        if event["type"] == "proactive":
            break
    audio = 0
    with contextlib.suppress(TimeoutError):
        while True:
            message = await ws.receive(1.0)
            if message.type == aiohttp.WSMsgType.BINARY:
                audio += len(message.data)
    return event, audio


def test_a_timer_fires_into_its_own_connection_in_text_and_audio(server: Server) -> None:
    async def scenario() -> tuple[Event, int, list[Event]]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="timer-1")) as ws,
            http.ws_connect(ws_url(server.url, conversation="timer-quiet")) as quiet,
        ):
            await next_event(ws)
            await next_event(quiet)
            await ws.send_json({"type": "text", "text": "set a timer for 1 second"})
            events, _ = await until_turn(ws)
            assert "timer" in of(events, "turn")[0]["record"]["text"].lower()
            event, audio = await proactive_event(ws, 10)
            await quiet.send_json({"type": "hello"})
            return event, audio, [await next_event(quiet)]  # nothing came before it

    event, audio, quiet = run(scenario())
    assert "timer is done" in event["text"] and event["turn"] < 0
    assert audio > 16000  # the announcement is spoken too
    assert [e["type"] for e in quiet] == ["hello"]


def test_a_timer_that_ends_while_its_client_is_away_is_announced_when_it_returns(
    server: Server,
) -> None:
    async def scenario() -> Event:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(ws_url(server.url, conversation="timer-2")) as ws:
                await next_event(ws)
                await ws.send_json({"type": "text", "text": "set a timer for 1 second"})
                await until_turn(ws)
            await asyncio.sleep(2.0)
            async with http.ws_connect(ws_url(server.url, conversation="timer-2")) as ws:
                return (await proactive_event(ws, 10))[0]

    assert "timer is done" in run(scenario())["text"]


def test_a_thousand_connections_opened_and_closed_leave_nothing_behind(server: Server) -> None:
    """Every connection is a conversation begun and ended on the shared pipeline: after 1,000
    of them no link, bus observer, stage lane or tracker is left, and memory stays flat."""

    async def cycles(count: int, first: int) -> None:
        async with aiohttp.ClientSession() as http:
            for index in range(first, first + count):
                url = ws_url(server.url, conversation=f"cycle-{index}")
                async with http.ws_connect(url) as ws:
                    assert (await next_event(ws))["type"] == "ready"

    async def leftovers() -> tuple[int, int, int, int]:
        for _ in range(200):
            lanes = sum(1 for r in server.voice.runners for s in r.lanes if s.startswith("cycle-"))
            if not server.service.links and not lanes:
                break
            await asyncio.sleep(0.05)
        tracker = next(s for s in server.voice.stages if s.kind == "dst")
        trackers = sum(1 for s in tracker.trackers if s.startswith("cycle-"))
        return len(server.service.links), lanes, trackers, len(server.voice.bus._observers)

    def rss_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 1e6

    *_, observers = server.call(leftovers())  # earlier tests' connections have ended
    run(cycles(100, 0))  # warm: first-use allocations
    before = rss_mb()
    run(cycles(1000, 100))
    grown = rss_mb() - before
    assert server.call(leftovers()) == (0, 0, 0, observers)
    assert grown < 30, f"memory grew by {grown:.1f} MB over 1,000 connections"


def test_speaking_over_the_reply_interrupts_it_and_is_the_next_turn(server: Server) -> None:
    speech = conversation(0.3, "what time is it", 1.5).pcm

    async def scenario() -> list[Event]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="barge-1")) as ws,
        ):
            await next_event(ws)
            await ws.send_json({"type": "text", "text": "tell me a joke"})
            events: list[Event] = []
            while (message := await ws.receive(60)).type != aiohttp.WSMsgType.BINARY:
                events.append(json.loads(message.data))  # until the joke is being spoken
            collect = asyncio.ensure_future(until_turn_after(ws, turn=1))
            loop = asyncio.get_running_loop()
            start, block = loop.time(), 640
            for index in range(0, len(speech), block):
                await ws.send_bytes(speech[index : index + block])
                await asyncio.sleep(max(0.0, start + (index + block) / 32000 - loop.time()))
            return events + await collect

    events = run(scenario())
    types = [e["type"] for e in events]
    assert "interrupted" in types
    spoken = [e for e in of(events, "transcript") if e["turn"] > 1]
    assert spoken and "time" in spoken[0]["text"].lower()
    assert types.index("interrupted") < types.index("transcript", types.index("accepted") + 1)


async def until_turn_after(ws: aiohttp.ClientWebSocketResponse, turn: int) -> list[Event]:
    """Events until the `turn` event of a turn later than `turn`."""
    events: list[Event] = []
    while True:
        message = await ws.receive(90)
        if message.type == aiohttp.WSMsgType.BINARY:
            continue
        events.append(json.loads(message.data))
        if events[-1]["type"] == "turn" and events[-1]["turn"] > turn:
            return events


def test_metrics_count_the_voice_connections_and_turns(server: Server) -> None:
    async def scenario() -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="counted-1")) as ws,
        ):
            await next_event(ws)
            await ws.send_json({"type": "text", "text": "hello"})
            await until_turn(ws)
            async with http.get(server.url + "/metrics") as response:
                return await response.text()

    text = run(scenario())
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
             if line and not line.startswith("#")}  # fmt: skip
    assert lines["assistant_voice_connections"] == 1
    assert lines['assistant_voice_turns_total{kind="typed"}'] >= 1
    assert lines['assistant_voice_turns_total{kind="spoken"}'] >= 1  # the spoken test's
    assert lines["assistant_voice_to_voice_seconds_count"] >= 1


def test_without_voice_or_past_the_limit_the_upgrade_is_refused_with_503(server: Server) -> None:
    async def status(url: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(url + "/ws") as response:
            return response.status, (await response.json())["error"]

    async def scenario() -> tuple[tuple[int, str], tuple[int, str], int]:
        without = await status(server.no_voice_url)
        async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(server.url)) as ws:
            await next_event(ws)
            server.service.max_links = len(server.service.links)
            try:
                full = await status(server.url)
            finally:
                server.service.max_links = 32
        async with aiohttp.ClientSession() as http, http.get(server.no_voice_url + "/") as page:
            return without, full, page.status

    without, full, page = run(scenario())
    assert without[0] == 503 and "--voice none" in without[1]
    assert full[0] == 503 and "try again later" in full[1]
    assert page == 200


def test_typing_over_the_reply_interrupts_it(server: Server) -> None:
    async def scenario() -> list[Event]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(server.url, conversation="typed-over-1")) as ws,
        ):
            await next_event(ws)
            await ws.send_json({"type": "text", "text": "tell me a joke"})
            while (await ws.receive(60)).type != aiohttp.WSMsgType.BINARY:
                pass  # until the joke is being spoken
            await ws.send_json({"type": "text", "text": "what is 2 times 3"})
            return await until_turn_after(ws, turn=1)

    events = run(scenario())
    types = [e["type"] for e in events]
    assert "interrupted" in types
    assert types.index("interrupted") < types.index("accepted")
    assert "6" in of(events, "turn")[-1]["record"]["text"]


def test_serve_refuses_a_voice_pipeline_that_takes_text_before_loading_anything() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "serve", "--port", "0", "--voice", "text"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--voice text takes text" in result.stderr and "Loading" not in result.stderr
