"""One real-time spoken conversation over `assistant serve`'s WebSocket (`/ws`), as a client
with a microphone holds it: the client side of `benchmarks.serve_ws`.

The conversation's audio is one 16 kHz 16-bit mono stream: `LEAD_S` of silence, then each
request followed by `PAUSE_S` of silence (so its reply can be played before the next). It goes
out in 32 ms blocks (512 samples) at real-time pace, each block when a microphone would hand it
over: once its last sample is recorded. Every event and audio frame that comes back is kept with
the time it arrived.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from assistant.audio.wav import SAMPLE_RATE
from assistant.voice import to_int16
from benchmarks.audio_set import Clip, last_voiced_s

BLOCK = 512  # samples: 32 ms, what the browser client sends
BLOCK_S = BLOCK / SAMPLE_RATE
LEAD_S = 1.0  # silence before the first request
PAUSE_S = 3.0  # silence after each request: the reply plays in it
SETTLE_S = 5.0  # after the audio: how long a quiet connection is waited on for late records
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Request:
    text: str
    voice: str
    end_sample: int  # one past its last voiced sample, counted from the stream's start


@dataclass(frozen=True)
class Script:
    """What one conversation says: its requests and the whole stream of PCM."""

    requests: list[Request]
    pcm: bytes  # 16 kHz 16-bit little-endian mono

    @property
    def blocks(self) -> int:
        return -(-len(self.pcm) // (2 * BLOCK))


def script(clips: Sequence[Clip]) -> Script:
    """The requests one after another, with `LEAD_S` of silence first and `PAUSE_S` after each."""
    parts = [np.zeros(int(LEAD_S * SAMPLE_RATE), dtype=np.int16)]
    at = len(parts[0])
    requests: list[Request] = []
    for clip in clips:
        samples = to_int16(clip.audio.samples, clip.audio.sample_rate, SAMPLE_RATE)
        voiced = round(last_voiced_s(clip.audio) * SAMPLE_RATE)  # 16 kHz after read_wav
        requests.append(Request(clip.text, clip.voice, at + min(voiced, len(samples))))
        parts += [samples, np.zeros(int(PAUSE_S * SAMPLE_RATE), dtype=np.int16)]
        at += len(samples) + len(parts[-1])
    pcm = np.concatenate(parts).astype("<i2").tobytes()
    return Script(requests, pcm)


@dataclass
class Talk:
    """What happened on one connection, in the client's clock (time.perf_counter seconds)."""

    name: str
    script: Script
    sent_at: list[float] = field(default_factory=list)  # per block: when it went out
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    audio: list[tuple[float, int, int | None]] = field(default_factory=list)
    """Per binary frame: when it came, its bytes, the turn of the last final transcript."""
    failure: str | None = None

    def records(self) -> dict[int, dict[str, Any]]:
        return {e["turn"]: e["record"] for _, e in self.events if e["type"] == "turn"}

    def transcripts(self) -> dict[int, str]:
        return {
            e["turn"]: e["text"]
            for _, e in self.events
            if e["type"] == "transcript" and e.get("final")
        }

    def count(self, kind: str) -> int:
        return sum(e["type"] == kind for _, e in self.events)


async def hold(
    client: aiohttp.ClientSession,
    url: str,
    talk: Talk,
    delay_s: float,
    idle: asyncio.Event,
    release: asyncio.Event,
) -> Talk:
    """Open `/ws?conversation=<name>` after `delay_s`, say the script in real time, wait for the
    turns' records, set `idle`, and keep the connection open until `release`."""
    await asyncio.sleep(delay_s)
    address = url.replace("http", "ws", 1) + f"/ws?conversation={talk.name}"
    try:
        async with client.ws_connect(address, max_msg_size=0, heartbeat=None) as ws:
            first = await asyncio.wait_for(ws.receive_json(), READY_TIMEOUT_S)
            if first.get("type") != "ready":
                raise RuntimeError(f"expected a ready event first, got {first}")
            receiving = asyncio.ensure_future(_receive(ws, talk))
            await _send(ws, talk)
            await _settle(talk)
            idle.set()
            await release.wait()
            await ws.close()
            await receiving
    except (aiohttp.ClientError, RuntimeError, TimeoutError) as exc:
        talk.failure = f"{type(exc).__name__}: {exc}"
        idle.set()
    return talk


async def _receive(ws: aiohttp.ClientWebSocketResponse, talk: Talk) -> None:
    turn: int | None = None
    async for message in ws:
        now = time.perf_counter()
        if message.type == aiohttp.WSMsgType.BINARY:
            talk.audio.append((now, len(message.data), turn))
        elif message.type == aiohttp.WSMsgType.TEXT:
            event = json.loads(message.data)
            talk.events.append((now, event))
            if event["type"] == "transcript" and event.get("final"):
                turn = event["turn"]


async def _send(ws: aiohttp.ClientWebSocketResponse, talk: Talk) -> None:
    """Block k goes out once its last sample is 'recorded': at start + (k + 1) * 32 ms."""
    pcm, size = talk.script.pcm, 2 * BLOCK
    start = time.perf_counter()
    for k in range(talk.script.blocks):
        wait = start + (k + 1) * BLOCK_S - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        await ws.send_bytes(pcm[k * size : (k + 1) * size])
        talk.sent_at.append(time.perf_counter())


async def _settle(talk: Talk) -> None:
    """Wait until every turn that began has its record, or nothing came for SETTLE_S."""
    while True:
        begun = {e["turn"] for _, e in talk.events if e.get("turn", 0) > 0 and e["type"] != "error"}
        if begun and begun <= talk.records().keys():
            return
        last = max([talk.sent_at[-1], *(t for t, _ in talk.events), *(t for t, _, _ in talk.audio)])
        if time.perf_counter() - last > SETTLE_S:
            return
        await asyncio.sleep(0.1)
