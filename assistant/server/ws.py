"""The WebSocket `/ws` (one spoken conversation per connection) and the browser client at `/`.

Protocol (docs/protocol.md): the client sends 16 kHz 16-bit mono PCM as binary frames and JSON
messages `text`, `interrupt`, `feedback`, `hello`; the server sends JSON events (`ready`,
`transcript`, `reply`, `tone`, `timings`, `turn`, `interrupted`, `proactive`, `feedback`,
`error`) and the replies' audio as binary frames (16 kHz 16-bit mono PCM).

Everything the server sends goes through one bounded queue per connection: a client that stops
reading fills it and is disconnected, so it never holds the server's memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSCloseCode, WSMsgType, web

from assistant.audio.wav import SAMPLE_RATE
from assistant.messages import Reply
from assistant.server.http import HUB, METRICS, dumps, fail
from assistant.server.hub import HubBusy, HubClosed, HubError, check_conversation_id, check_text
from assistant.server.voice_link import Event, VoiceLink, VoiceService
from assistant.server.voice_metrics import observe_voice
from assistant.session import new_session_id

log = logging.getLogger(__name__)

VOICE = web.AppKey("voice", VoiceService)
LIMITS = web.AppKey("ws_limits", dict)
MAX_MESSAGE = 64 * 1024  # a text or 2 s of audio; beyond it the socket closes with 1009
SEND_QUEUE = 256  # events and audio chunks waiting for a slow client; beyond it, disconnect
SEND_BUFFER = 64 * 1024  # the kernel's send buffer per socket: bounded too
AUDIO_FORMAT = {"encoding": "pcm_s16le", "sample_rate": SAMPLE_RATE, "channels": 1}
CLIENT_TYPES = ("text", "interrupt", "feedback", "hello")
RATINGS = ("up", "down", "flag")
EXAMPLE = '{"type": "text", "text": "hello"}'
STATIC = Path(str(resources.files("assistant.server") / "static"))


def add_voice_routes(
    app: web.Application,
    service: VoiceService | None,
    *,
    max_message: int = MAX_MESSAGE,
    send_queue: int = SEND_QUEUE,
) -> None:
    """`/ws` over `service` (None: the server runs without voice and says so), the browser
    client at `/` and its files under `/static/`."""
    if service is not None:
        app[VOICE] = service
        app.on_shutdown.append(_shutdown)
        if METRICS in app:
            observe_voice(app[METRICS].registry, service)
    app[LIMITS] = {"max_message": max_message, "send_queue": send_queue}
    app.router.add_get("/ws", websocket)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC, append_version=False)


async def index(request: web.Request) -> web.Response:
    """The page, its files' addresses carrying the token when it came with one (each request
    must: the page's own address holds it, `?token=`)."""
    token = request.query.get("token")
    query = "?" + urlencode({"token": token}) if token else ""
    html = (STATIC / "index.html").read_text(encoding="utf-8").replace("__QUERY__", query)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-cache"})


async def _shutdown(app: web.Application) -> None:
    await app[VOICE].close()


class Connection:
    """One WebSocket: its send queue and writer, and the conversation it drives."""

    def __init__(
        self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None, send_queue: int
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.queue: asyncio.Queue[Event | bytes | None] = asyncio.Queue(send_queue)
        self.too_slow = False
        self.writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, item: Event | bytes) -> None:
        if self.too_slow or self.ws.closed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.too_slow = True
            log.warning("a WebSocket client stopped reading; disconnected")
            if isinstance(self.transport, asyncio.WriteTransport):
                self.transport.abort()  # it reads nothing: a close handshake would wait forever

    def error(self, message: str) -> None:
        self.send({"type": "error", "error": message})

    async def _write(self) -> None:
        try:
            while (item := await self.queue.get()) is not None:
                if isinstance(item, bytes):
                    await self.ws.send_bytes(item)
                else:
                    await self.ws.send_str(dumps(item))
        except (ConnectionError, RuntimeError) as exc:  # the client went away
            log.debug("WebSocket send stopped: %s", exc)

    async def close(self) -> None:
        """Send what is queued (unless the client stopped reading), then stop the writer."""
        if not self.too_slow:
            try:
                self.queue.put_nowait(None)
                await asyncio.wait_for(asyncio.shield(self.writer), 5.0)
            except (asyncio.QueueFull, TimeoutError):
                pass
        self.writer.cancel()
        await asyncio.gather(self.writer, return_exceptions=True)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """`/ws?conversation=<id>`: one spoken conversation (a new id when none is given)."""
    service = request.app.get(VOICE)
    if service is None:
        fail(503, "this server runs without voice (--voice none): /ws is off; use HTTP")
    if service.closing:
        fail(503, "the server is shutting down; try again in a moment")
    try:
        conversation_id = check_conversation_id(
            request.query.get("conversation") or new_session_id()
        )
        user = request.query.get("user")
        if user is not None:
            check_conversation_id(user)
    except HubError as exc:
        fail(400, f"conversation or user: {exc}")
    if len(service.links) + len(service.opening) >= service.max_links:
        fail(503, f"{service.max_links} voice conversations are open already; try again later")
    if conversation_id in service.opening or any(
        link.conversation_id == conversation_id for link in service.links
    ):
        fail(409, f"conversation {conversation_id} is open on another connection; close it first")
    service.opening.add(conversation_id)  # until its link is up: the upgrade takes a moment
    hub = request.app.get(HUB)
    try:
        # The id leaves the text pipeline's hub while it is open here: one tracker at a time.
        kept = await hub.lend(conversation_id, "a /ws connection") if hub else []
        try:
            return await _converse(request, service, conversation_id, kept)
        finally:
            if hub:
                hub.give_back(conversation_id)
    except (HubBusy, HubClosed) as exc:
        fail(409 if isinstance(exc, HubBusy) else 503, str(exc))
    finally:
        service.opening.discard(conversation_id)


async def _converse(
    request: web.Request, service: VoiceService, conversation_id: str, kept: list[Reply]
) -> web.WebSocketResponse:
    limits = request.app[LIMITS]
    ws = web.WebSocketResponse(max_msg_size=limits["max_message"], heartbeat=30.0)
    await ws.prepare(request)
    _bound_send_buffer(request)
    connection = Connection(ws, request.transport, limits["send_queue"])
    user = request.query.get("user") or None  # checked with the conversation id
    link = VoiceLink(service, conversation_id, connection.send, user)
    running = link.start()
    service.opening.discard(conversation_id)
    connection.send({"type": "ready", "conversation": conversation_id, "audio": AUDIO_FORMAT})
    for reply in kept:  # timers that ended while the conversation was served over HTTP
        connection.send({"type": "proactive", "turn": reply.turn_id, "text": reply.text})
    receiving = asyncio.ensure_future(_receive(ws, connection, link))
    try:
        # The link ends first only when the server shuts down (its input was ended).
        await asyncio.wait({receiving, running}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        receiving.cancel()
        (failed,) = await asyncio.gather(receiving, return_exceptions=True)
        if isinstance(failed, Exception):
            log.error("WebSocket of conversation %s failed", conversation_id, exc_info=failed)
        await link.finish(client_gone=ws.closed or connection.too_slow)
        await connection.close()
        if not ws.closed:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"the conversation is over")
        if connection.too_slow:
            service.slow_clients += 1
    return ws


def _bound_send_buffer(request: web.Request) -> None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


async def _receive(ws: web.WebSocketResponse, connection: Connection, link: VoiceLink) -> None:
    async for message in ws:
        if message.type == WSMsgType.BINARY:
            problem = audio_problem(message.data)
            if problem:
                connection.error(problem)
            else:
                await link.audio(message.data)
        elif message.type == WSMsgType.TEXT:
            await _command(message.data, connection, link)
        elif message.type == WSMsgType.ERROR:
            log.info("WebSocket closed with an error: %s", ws.exception())
            break
        if connection.too_slow:
            break


def audio_problem(pcm: bytes) -> str | None:
    """Why a binary frame is not 16 kHz 16-bit mono PCM, if it can be told."""
    if pcm[:4] == b"RIFF":
        return "binary frames are raw 16 kHz 16-bit mono PCM, not a WAV file: drop the header"
    if len(pcm) % 2:
        return (
            f"a binary frame of {len(pcm)} bytes is not 16-bit PCM (an odd length); send "
            "16 kHz 16-bit little-endian mono samples"
        )
    return None


async def _command(raw: str, connection: Connection, link: VoiceLink) -> None:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        connection.error(f"not valid JSON ({exc}); send an object like {EXAMPLE}")
        return
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        connection.error(f'each message is a JSON object with a "type", like {EXAMPLE}')
        return
    kind = data["type"]
    if kind == "text":
        try:
            text = check_text(data.get("text"))
        except HubError as exc:
            connection.error(f"text: {exc}")
            return
        turn = await link.text(text)
        connection.send({"type": "accepted", "turn": turn})
    elif kind == "interrupt":
        link.interrupt()
    elif kind == "feedback":
        await _feedback(data, connection, link)
    elif kind == "hello":
        _hello(data, connection)
    else:
        connection.error(f"unknown message type {kind!r}; the types are: {', '.join(CLIENT_TYPES)}")


async def _feedback(data: dict[str, Any], connection: Connection, link: VoiceLink) -> None:
    turn, rating = data.get("turn"), data.get("rating")
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
        connection.error("feedback: turn must be the id of a turn (a positive integer)")
        return
    if rating not in RATINGS:
        connection.error(f"feedback: rating must be one of {', '.join(RATINGS)}")
        return
    note = data.get("comment", "")
    if not isinstance(note, str) or len(note) > 1000:
        connection.error("feedback: comment must be a string of at most 1000 characters")
        return
    if not await link.feedback(turn, rating, note):
        connection.error(f"feedback: turn {turn} has not happened in this conversation")
        return
    connection.send({"type": "feedback", "turn": turn, "rating": rating, "comment": note})


def _hello(data: dict[str, Any], connection: Connection) -> None:
    audio = data.get("audio")
    if audio is None:
        connection.send({"type": "hello", "audio": AUDIO_FORMAT})
        return
    if not isinstance(audio, dict) or any(audio.get(k, v) != v for k, v in AUDIO_FORMAT.items()):
        connection.error(
            f"audio format {audio!r} is not supported: send {AUDIO_FORMAT['sample_rate']} Hz "
            "16-bit mono PCM (encoding pcm_s16le); the browser client resamples"
        )
        return
    connection.send({"type": "hello", "audio": AUDIO_FORMAT})
