"""The Wyoming server as Home Assistant uses it: time per request, one client and several at once.

Run from the project root:  python -m benchmarks.wyoming [--rounds 10] [--clients 4]

One server on 127.0.0.1 (an ephemeral port) over the text pipeline (sessions in memory), models
loaded once. Each request is made the way Home Assistant's Wyoming integration makes it, on a
connection of its own: `describe`; speech-to-text of a spoken request (Piper joe, sent as
Home Assistant sends it: 16 kHz 16-bit mono in 1024-sample chunks) from the first byte sent to
the transcript; text-to-speech of a reply sentence, to the first audio chunk and to audio-stop;
and a conversation turn (`transcript` -> `handled`). Beside the speech-to-text time, the same
audio decoded by the same Whisper engine called directly: the difference is what the protocol,
the conversion and the thread hop cost. Then `--clients` clients make the same mix at once.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled
from wyoming.info import Describe
from wyoming.tts import Synthesize

from assistant.audio.wav import SAMPLE_RATE, Audio, resample
from assistant.config import DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.runner import Pipeline
from assistant.pipeline import plan_pipeline
from assistant.server.wyoming import LocalConversations, WyomingServer
from assistant.speech.tts_piper import PiperSynthesizer
from benchmarks.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
REQUEST = "Set a timer for ten minutes."
REPLY = "Okay, I set a timer for ten minutes. I will tell you when it is done."

Address = tuple[str, int]


def spoken(text: str) -> Audio:
    """The request spoken by the project's Piper voice, as 16 kHz mono."""
    voice = PiperSynthesizer.load("joe")
    samples = Audio.from_pcm(voice.synthesize(text), voice.sample_rate).samples / 32768.0
    resampled = resample(samples, voice.sample_rate, SAMPLE_RATE)
    return Audio(np.clip(resampled * 32768.0, -32768, 32767).astype(np.int16), SAMPLE_RATE)


async def describe(address: Address) -> dict[str, float]:
    started = time.perf_counter()
    async with AsyncTcpClient(*address) as client:
        await client.write_event(Describe().event())
        while (event := await client.read_event()) is not None and event.type != "info":
            pass
    return {"describe": time.perf_counter() - started}


async def speech_to_text(address: Address, audio: Audio) -> dict[str, float]:
    pcm, step = audio.pcm, 2048
    started = time.perf_counter()
    async with AsyncTcpClient(*address) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for start in range(0, len(pcm), step):
            chunk = AudioChunk(16000, 2, 1, pcm[start : start + step])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None and event.type != "transcript":
            pass
    return {"stt": time.perf_counter() - started}


async def text_to_speech(address: Address) -> dict[str, float]:
    started, first = time.perf_counter(), 0.0
    async with AsyncTcpClient(*address) as client:
        await client.write_event(Synthesize(text=REPLY).event())
        while (event := await client.read_event()) is not None and event.type != "audio-stop":
            if event.type == "audio-chunk" and not first:
                first = time.perf_counter() - started
    return {"tts first chunk": first, "tts whole": time.perf_counter() - started}


async def conversation_turn(address: Address, conversation_id: str) -> dict[str, float]:
    started = time.perf_counter()
    async with AsyncTcpClient(*address) as client:
        context = {"conversation_id": conversation_id}
        await client.write_event(Transcript("what's on my shopping list", context).event())
        while (event := await client.read_event()) is not None and not Handled.is_type(event.type):
            pass
    return {"handle": time.perf_counter() - started}


async def one_client(address: Address, audio: Audio, rounds: int, name: str) -> list[dict]:
    requests: list[Callable[[], Awaitable[dict[str, float]]]] = [
        lambda: describe(address),
        lambda: speech_to_text(address, audio),
        lambda: text_to_speech(address),
        lambda: conversation_turn(address, name),
    ]
    await asyncio.gather(*(request() for request in requests))  # warm-up, untimed
    return [await request() for _ in range(rounds) for request in requests]


def summary(results: list[dict[str, float]]) -> dict[str, tuple[float, float, int]]:
    keys = sorted({key for result in results for key in result})
    table = {}
    for key in keys:
        values = [r[key] * 1000 for r in results if key in r]
        table[key] = (percentile(values, 0.5), percentile(values, 0.95), len(values))
    return table


def show(title: str, table: dict[str, tuple[float, float, int]]) -> None:
    print(title)
    for key, (p50, p95, count) in table.items():
        print(f"  {key:<16} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   (n={count})")


async def main(rounds: int, clients: int) -> None:
    path = ROOT / "pipelines" / "text.yaml"
    catalog = load_models(DEFAULT_MODELS)
    plan = plan_pipeline(
        load_pipeline(path), path, catalog, DEFAULT_MODELS, {"dst": "tracker-memory"}
    )
    audio = spoken(REQUEST)
    async with Pipeline(plan) as pipeline:
        server = WyomingServer("tcp://127.0.0.1:0", LocalConversations(pipeline))
        await server.start()
        host, port = server.address.removeprefix("tcp://").rsplit(":", 1)
        address = (host, int(port))
        engine = await server.recognizers.get("tiny.en")
        direct = []
        for _ in range(rounds):
            started = time.perf_counter()
            await asyncio.to_thread(engine.recognize, audio)
            direct.append({"stt (engine)": time.perf_counter() - started})
        print(f"request audio: {audio.duration:.2f} s; reply: {len(REPLY)} characters")
        show("one client:", summary(await one_client(address, audio, rounds, "solo") + direct))
        together = await asyncio.gather(
            *(one_client(address, audio, rounds, f"client-{i}") for i in range(clients))
        )
        show(f"{clients} clients at once:", summary([r for c in together for r in c]))
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.clients))
