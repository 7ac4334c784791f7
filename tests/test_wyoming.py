"""The assistant over Wyoming, driven with the `wyoming` client classes the way Home Assistant's
integration drives them (homeassistant/components/wyoming: data.py sends describe; stt.py sends
transcribe + audio and reads until a transcript; tts.py sends synthesize and reads chunks until
audio-stop; conversation.py sends a transcript with context.conversation_id and reads until
handled). One real server on 127.0.0.1 (an ephemeral port) over a real text pipeline serves the
whole module; it runs on its own event loop in a thread, each test's clients on theirs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import socket
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop, wav_to_chunks
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.handle import Handled
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.tts import Synthesize, SynthesizeVoice

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.errors import ConfigError
from assistant.core.runner import Pipeline
from assistant.pipeline import plan_pipeline
from assistant.server import wyoming_handler
from assistant.server.wyoming import WyomingServer, check_uri
from assistant.server.wyoming_audio import AudioFormat, AudioFormatError, IncomingAudio
from assistant.server.wyoming_speech import SpeechOptions
from assistant.session import TextSession, TurnRecord
from assistant.speech.tts_espeak import EspeakSynthesizer
from assistant.stages.asr.vocabulary import skills_lm, skills_prompt
from assistant.stages.asr.whisper_ct2 import FasterWhisperParams
from tests.speech import write_speech

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120.0  # a generous bound per test on a busy 2-core machine, not a measurement


class SessionsPerId:
    """The `Conversations` a hub provides: one TextSession per conversation id on one started
    pipeline, the turns of one id one at a time."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.sessions: dict[str, TextSession] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def say(self, conversation_id: str, text: str) -> TurnRecord:
        lock = self.locks.setdefault(conversation_id, asyncio.Lock())
        async with lock:
            if conversation_id not in self.sessions:
                session = TextSession(self.pipeline, session_id=conversation_id)
                await session.begin()
                self.sessions[conversation_id] = session
            return await self.sessions[conversation_id].say(text)


RUNNING: dict[str, Any] = {}  # the server thread's loop and conversations


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    """(host, port) of a started server; stopped (gracefully) after the module's tests."""
    ready = threading.Event()
    found = RUNNING

    async def run() -> None:
        path = ROOT / "pipelines" / "text.yaml"
        catalog = load_models(DEFAULT_MODELS)
        plan = plan_pipeline(
            load_pipeline(path), path, catalog, DEFAULT_MODELS, {"dst": "tracker-memory"}
        )
        try:
            async with Pipeline(plan) as pipeline:
                conversations = SessionsPerId(pipeline)
                options = SpeechOptions.from_catalog()  # as serve: primed, padded
                wyoming = WyomingServer("tcp://127.0.0.1:0", conversations, options)
                await wyoming.start()
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                found.update(
                    address=wyoming.address, stop=stop, loop=loop, conversations=conversations
                )
                ready.set()
                await stop.wait()
                await wyoming.stop()
        finally:
            ready.set()

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    ready.wait(600)
    assert "address" in found, "the Wyoming server did not start"
    host, port = found["address"].removeprefix("tcp://").rsplit(":", 1)
    yield host, int(port)
    found["loop"].call_soon_threadsafe(found["stop"].set)
    thread.join(60)
    assert not thread.is_alive(), "the server did not stop"


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def speech_wav(text: str) -> bytes:
    """The sentence spoken by the project's Piper voice: a 22.05 kHz 16-bit mono WAV."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        write_speech(text, out)
    return buffer.getvalue()


async def read_until(client: AsyncTcpClient, *types: str) -> list[Event]:
    """Events up to and including the first of `types` (what Home Assistant's loops do)."""
    events = []
    while True:
        event = await client.read_event()
        assert event is not None, f"connection closed before {types}: {events}"
        events.append(event)
        if event.type in types:
            return events


async def transcribe(client: AsyncTcpClient, wav: bytes, **request: Any) -> list[Event]:
    """Home Assistant's stt.py, with the audio at the WAV's own rate in 1024-sample chunks."""
    await client.write_event(Transcribe(**request).event())
    with wave.open(io.BytesIO(wav), "rb") as reader:
        for message in wav_to_chunks(reader, 1024, start_event=True, stop_event=True):
            await client.write_event(message.event())
    return await read_until(client, "transcript", "error")


async def synthesize(client: AsyncTcpClient, text: str, voice: str | None) -> list[Event]:
    """Home Assistant's tts.py: synthesize, then read until audio-stop."""
    wanted = SynthesizeVoice(name=voice) if voice else None
    await client.write_event(Synthesize(text=text, voice=wanted).event())
    return await read_until(client, "audio-stop", "error")


def as_wav(events: list[Event]) -> tuple[AudioStart, list[AudioChunk], bytes]:
    start = AudioStart.from_event(events[0])
    chunks = [AudioChunk.from_event(e) for e in events if AudioChunk.is_type(e.type)]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setframerate(start.rate)
        out.setsampwidth(start.width)
        out.setnchannels(start.channels)
        out.writeframes(b"".join(c.audio for c in chunks))
    return start, chunks, buffer.getvalue()


async def converse(client: AsyncTcpClient, text: str, conversation_id: str | None) -> Handled:
    """Home Assistant's conversation.py."""
    context = {"conversation_id": conversation_id} if conversation_id else None
    await client.write_event(Transcript(text, context=context, language="en").event())
    (*_, answer) = await read_until(client, "handled", "not-handled", "error")
    assert Handled.is_type(answer.type), answer
    return Handled.from_event(answer)


# --- describe ------------------------------------------------------------------------------------


def test_describe_advertises_speech_to_text_voices_and_the_assistant(
    server: tuple[str, int],
) -> None:
    async def scenario() -> Info:
        async with AsyncTcpClient(*server) as client:
            await client.write_event(Describe().event())
            (*_, info) = await read_until(client, "info")
            return Info.from_event(info)

    info = run(scenario())
    (asr,) = info.asr
    models = {m.name: m for m in asr.models}
    assert models["tiny.en"].installed and models["tiny.en"].languages == ["en"]
    assert "base" in models
    assert asr.installed and asr.attribution.name == "SYSTRAN" and asr.version
    (tts,) = info.tts  # Home Assistant uses the first installed tts program: all voices are in it
    voices = {v.name: v for v in tts.voices}
    assert voices["joe"].installed and voices["joe"].languages == ["en_US"]
    assert voices["espeak-en-us"].installed and "en_US" in voices["espeak-en-us"].languages
    assert voices["espeak-en-us"].version  # the library's own version
    assert len(voices) > 100  # eSpeak NG's languages
    assert not voices["espeak-fo"].installed  # its pronunciation dictionary is not shipped
    (handle,) = info.handle
    assert handle.installed and handle.models[0].languages == ["en"]
    assert not handle.supports_home_control


# --- speech to text ------------------------------------------------------------------------------


def test_speech_sent_at_22_khz_is_transcribed(server: tuple[str, int]) -> None:
    async def scenario() -> list[Event]:
        async with AsyncTcpClient(*server) as client:
            return await transcribe(client, speech_wav("What time is it?"), language="en")

    (answer,) = run(scenario())
    transcript = Transcript.from_event(answer)
    assert words(transcript.text) == "what time is it", transcript
    assert transcript.language == "en"


def test_a_number_in_a_robotic_voice_is_heard_as_the_calculator_wants(
    server: tuple[str, int],
) -> None:
    """Whisper is primed with the skills' words over Wyoming too (unprimed, tiny.en hears this
    eSpeak request as "what is 12 times I'm")."""
    synthesizer = EspeakSynthesizer("en-us", words_per_minute=200)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(synthesizer.sample_rate)
        out.writeframes(synthesizer.synthesize("what is twelve times nine"))

    async def go() -> list[Event]:
        async with AsyncTcpClient(*server) as client:
            return await transcribe(client, buffer.getvalue())

    (*_, answer) = run(go())
    assert words(Transcript.from_event(answer).text) == "what is 12 times 9", answer


def test_audio_in_a_bad_format_gets_an_error_and_the_connection_still_works(
    server: tuple[str, int],
) -> None:
    wav = speech_wav("Add eggs to my shopping list.")

    async def scenario() -> tuple[list[Event], list[Event], Event, list[Event]]:
        async with AsyncTcpClient(*server) as client:
            await client.write_event(Transcribe(language="en").event())
            await client.write_event(AudioStart(rate=16000, width=5, channels=1).event())
            width = await read_until(client, "error")
            await client.write_event(AudioChunk(16000, 5, 1, bytes(5000)).event())
            await client.write_event(AudioStop().event())  # the rejected stream ends: no reply
            await client.write_event(Transcribe().event())
            await client.write_event(AudioChunk(16000, 2, 1, bytes(3)).event())
            partial = await read_until(client, "error")  # not a whole 2-byte sample
            await client.write_event(AudioStop().event())
            await client.write_event(Describe().event())
            (info,) = await read_until(client, "info")
            heard = await transcribe(client, wav)
            return width, partial, info, heard

    width, partial, info, heard = run(scenario())
    assert [e.type for e in width] == ["error"], width
    assert "width of 5 bytes" in Error.from_event(width[0]).text
    assert [e.type for e in partial] == ["error"], partial
    assert "whole number" in Error.from_event(partial[0]).text
    assert Info.from_event(info).asr
    assert "eggs" in words(Transcript.from_event(heard[-1]).text)


def test_a_model_or_language_the_server_lacks_is_an_error(server: tuple[str, int]) -> None:
    async def scenario() -> list[Event]:
        async with AsyncTcpClient(*server) as client:
            await client.write_event(Transcribe(name="large-v3").event())
            unknown = await read_until(client, "error")
            await client.write_event(Transcribe(language="de").event())
            german = await read_until(client, "error")
            return unknown + german

    unknown, german = (Error.from_event(e).text for e in run(scenario()))
    assert "no speech model 'large-v3'" in unknown and "tiny.en" in unknown
    assert "not 'de'" in german


# --- text to speech ------------------------------------------------------------------------------


def test_synthesized_speech_has_the_right_format_and_says_the_text(
    server: tuple[str, int],
) -> None:
    text = "Your timer is set, and I will tell you when it is done."  # no numbers: 5 or five

    async def scenario() -> tuple[list[Event], list[Event]]:
        async with AsyncTcpClient(*server) as client:
            spoken = await synthesize(client, text, "joe")
            _, _, wav = as_wav(spoken)
            return spoken, await transcribe(client, wav)  # Whisper hears it back

    spoken, heard = run(scenario())
    start, chunks, _ = as_wav(spoken)
    assert (start.rate, start.width, start.channels) == (22050, 2, 1)
    assert all((c.rate, c.width, c.channels) == (22050, 2, 1) for c in chunks)
    assert all(c.samples <= 1024 for c in chunks) and chunks[0].samples == 1024
    samples = sum(c.samples for c in chunks)
    assert 1.0 < samples / 22050 < 5.0, samples / 22050
    stop = AudioStop.from_event(spoken[-1])
    assert stop.timestamp == samples * 1000 // 22050
    assert words(Transcript.from_event(heard[-1]).text) == words(text)


def test_an_espeak_voice_and_an_unknown_voice(server: tuple[str, int]) -> None:
    async def scenario() -> tuple[list[Event], list[Event]]:
        async with AsyncTcpClient(*server) as client:
            robotic = await synthesize(client, "Hello there.", "espeak-en-us")
            unknown = await synthesize(client, "Hello there.", "nobody")
            return robotic, unknown

    robotic, unknown = run(scenario())
    start, chunks, _ = as_wav(robotic)
    assert (start.width, start.channels) == (2, 1) and start.rate > 0
    assert sum(c.samples for c in chunks) / start.rate > 0.3
    assert [e.type for e in unknown] == ["error"]
    assert "no voice 'nobody'" in Error.from_event(unknown[0]).text


# --- conversation --------------------------------------------------------------------------------


def test_each_conversation_id_is_its_own_conversation(server: tuple[str, int]) -> None:
    async def scenario() -> list[Handled]:
        async with AsyncTcpClient(*server) as client:
            added = await converse(client, "add milk to my shopping list", "kitchen")
        async with AsyncTcpClient(*server) as client:  # Home Assistant connects per request
            listed = await converse(client, "what's on my shopping list", "kitchen")
            elsewhere = await converse(client, "what's on my shopping list", "garage")
            fresh = await converse(client, "add tea to my shopping list", None)
            assert fresh.context is not None
            again = await converse(
                client, "what's on my shopping list", fresh.context["conversation_id"]
            )
        return [added, listed, elsewhere, fresh, again]

    added, listed, elsewhere, fresh, again = run(scenario())
    assert added.context == {"conversation_id": "kitchen"}
    assert "milk" in words(added.text or "")
    assert "milk" in words(listed.text or ""), listed
    assert "milk" not in words(elsewhere.text or ""), elsewhere
    assert elsewhere.context == {"conversation_id": "garage"}
    assert fresh.context and fresh.context["conversation_id"] not in ("kitchen", "garage")
    assert "tea" in words(again.text or "") and "milk" not in words(again.text or ""), again


def test_two_clients_at_once(server: tuple[str, int]) -> None:
    wav = speech_wav("Set a timer for ten minutes.")

    async def hear() -> str:
        async with AsyncTcpClient(*server) as client:
            return Transcript.from_event((await transcribe(client, wav))[-1]).text

    async def talk() -> str:
        async with AsyncTcpClient(*server) as client:
            await converse(client, "add bread to my shopping list", "both-at-once")
            return (await converse(client, "what's on my shopping list", "both-at-once")).text or ""

    async def scenario() -> list[str]:
        return list(await asyncio.gather(hear(), talk()))

    heard, listed = run(scenario())
    assert words(heard) in ("set a timer for ten minutes", "set a timer for 10 minutes"), heard
    assert "bread" in words(listed)


def test_a_turn_whose_client_left_is_still_completed_and_kept(server: tuple[str, int]) -> None:
    async def scenario() -> Handled:
        async with AsyncTcpClient(*server) as client:
            context = {"conversation_id": "left-early"}
            await client.write_event(Transcript("add butter to my shopping list", context).event())
        async with AsyncTcpClient(*server) as client:  # the turns of one id go in order
            return await converse(client, "what's on my shopping list", "left-early")

    listed = run(scenario())
    assert "butter" in words(listed.text or ""), listed


# --- what is not Wyoming -------------------------------------------------------------------------


def test_unknown_events_are_ignored_and_a_malformed_frame_closes_only_its_connection(
    server: tuple[str, int],
) -> None:
    async def scenario() -> tuple[str, bytes, str]:
        async with AsyncTcpClient(*server) as client:
            await client.write_event(Event(type="no-such-event", data={"x": 1}))
            await client.write_event(Ping(text="still there?").event())
            await client.write_event(Describe().event())
            answers = await read_until(client, "info")
            first = answers[0].type
            assert Pong.from_event(answers[0]).text == "still there?"
            assert [e.type for e in answers] == ["pong", "info"]
        reader, writer = await asyncio.open_connection(*server)
        writer.write(b"this is not json\n")
        await writer.drain()
        closing = await reader.read()  # the error event, then the end of the stream
        writer.close()
        async with AsyncTcpClient(*server) as client:
            await client.write_event(Describe().event())
            after = (await read_until(client, "info"))[0].type
        return first, closing, after

    first, closing, after = run(scenario())
    assert first == "pong"
    assert b'"type": "error"' in closing and b"not JSON" in closing
    assert after == "info"


def test_an_oversize_frame_is_refused_without_reading_it(server: tuple[str, int]) -> None:
    async def scenario() -> bytes:
        reader, writer = await asyncio.open_connection(*server)
        writer.write(b'{"type": "audio-chunk", "payload_length": 1000000000}\n')
        await writer.drain()
        answer = await reader.read()  # the server closes; it never waits for the gigabyte
        writer.close()
        return answer

    answer = run(scenario())
    assert b'"type": "error"' in answer and b"payload_length must be an integer" in answer


class Slowly:
    """The conversations, each turn started half a second late: a turn to stop during."""

    def __init__(self, conversations: SessionsPerId) -> None:
        self.conversations = conversations

    async def say(self, conversation_id: str, text: str) -> TurnRecord:
        await asyncio.sleep(0.5)
        return await self.conversations.say(conversation_id, text)


def test_stop_finishes_the_turn_in_flight_and_closes_idle_connections(
    server: tuple[str, int],
) -> None:
    loop = RUNNING["loop"]

    async def start() -> WyomingServer:
        second = WyomingServer("tcp://127.0.0.1:0", Slowly(RUNNING["conversations"]))
        await second.start()
        return second

    second = asyncio.run_coroutine_threadsafe(start(), loop).result(TIMEOUT)
    host, port = second.address.removeprefix("tcp://").rsplit(":", 1)

    async def scenario() -> tuple[Handled, Event | None]:
        async with AsyncTcpClient(host, int(port)) as idle, AsyncTcpClient(host, int(port)) as busy:
            await idle.write_event(Describe().event())
            await read_until(idle, "info")
            context = {"conversation_id": "stopping"}
            await busy.write_event(Transcript("add rice to my shopping list", context).event())
            await asyncio.sleep(0.1)  # the turn is in flight
            stopping = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(second.stop(), loop))
            (*_, answer) = await read_until(busy, "handled")
            await stopping
            with pytest.raises(OSError):
                await asyncio.open_connection(host, int(port))  # no longer listening
            return Handled.from_event(answer), await idle.read_event()

    handled, idle_after = run(scenario())
    assert "rice" in words(handled.text or ""), handled
    assert idle_after is None  # closed by the stop


def test_a_client_that_stops_reading_is_dropped(
    server: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten minutes of eSpeak audio (~27 MB) to a client that does not read: once the buffers
    are full (a few MB), the server's write waits WRITE_TIMEOUT_S (1 s here), and it drops that
    client, and only that one."""
    monkeypatch.setattr(wyoming_handler, "WRITE_TIMEOUT_S", 1.0)
    text = " ".join(["This sentence is spoken to nobody who listens."] * 200)[:9_999]

    async def scenario() -> tuple[bytes, str]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(server)
        reader, writer = await asyncio.open_connection(sock=sock)
        voice = SynthesizeVoice(name="espeak-en-us")
        await async_write_event(Synthesize(text=text, voice=voice).event(), writer)
        await asyncio.sleep(5)  # not reading meanwhile
        received = b""
        with contextlib.suppress(ConnectionResetError):  # the server aborted the connection
            while chunk := await reader.read(1 << 16):
                received += chunk
        writer.close()
        async with AsyncTcpClient(*server) as client:
            await client.write_event(Describe().event())
            after = (await read_until(client, "info"))[-1].type
        return received, after

    received, after = run(scenario())
    assert b'"type": "audio-start"' in received
    assert b'"type": "audio-stop"' not in received  # dropped before the end
    assert after == "info"


# --- without a server ----------------------------------------------------------------------------


def test_only_loopback_or_an_explicit_choice_is_served() -> None:
    assert check_uri("tcp://127.0.0.1:10300") == "tcp://127.0.0.1:10300"
    assert check_uri("unix:///tmp/assistant.sock")
    assert check_uri("tcp://0.0.0.0:10300", allow_remote=True)
    with pytest.raises(ConfigError, match="no authentication"):
        check_uri("tcp://0.0.0.0:10300")
    with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
        check_uri("http://127.0.0.1:10300")


def test_the_speech_models_come_from_the_catalog() -> None:
    voice_pipeline = SpeechOptions.from_catalog()
    assert (voice_pipeline.asr_model, voice_pipeline.voice) == ("tiny.en", "joe")
    assert voice_pipeline.prompt == skills_prompt((), 60)  # primed as the asr stage is
    assert voice_pipeline.pad_s == 0.3
    # Rescored as the asr stage is: the skills' language model at the model's own weight.
    assert voice_pipeline.rescorer is not None and voice_pipeline.rescorer.lm is skills_lm(())
    assert voice_pipeline.rescorer.weight == FasterWhisperParams().lm_weight
    chosen = SpeechOptions.from_catalog(asr="whisper-base", tts="espeak")
    assert (chosen.asr_model, chosen.voice, chosen.beam_size) == ("base", "espeak-en-us", 5)
    assert chosen.rescorer is not None and chosen.rescorer.weight == 0.1
    with pytest.raises(ConfigError, match="no asr model 'nope'"):
        SpeechOptions.from_catalog(asr="nope")


def test_stereo_48_khz_32_bit_audio_becomes_16_khz_mono() -> None:
    seconds, rate = 0.5, 48_000
    tone = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate) * 0.5
    stereo = np.stack([tone, tone], axis=1)  # the same tone in both channels
    ints = (stereo * (1 << 31)).astype("<i4")
    audio_format = AudioFormat(rate, 4, 2)
    stream = IncomingAudio(audio_format, max_seconds=10)
    payload = ints.tobytes()
    stream.add(audio_format, payload[: len(payload) // 2])
    stream.add(audio_format, payload[len(payload) // 2 :])
    audio = stream.to_audio()
    assert audio.sample_rate == 16_000 and len(audio.samples) == 8000
    peak = np.abs(audio.samples[1000:-1000]).max() / 32768
    assert 0.45 < peak < 0.55, peak


def test_24_bit_samples_decode_with_their_sign() -> None:
    values = [0, 1, -1, (1 << 23) - 1, -(1 << 23)]
    payload = b"".join(v.to_bytes(3, "little", signed=True) for v in values)
    stream = IncomingAudio(AudioFormat(16_000, 3, 1), max_seconds=1)
    stream.add(AudioFormat(16_000, 3, 1), payload)
    samples = stream.to_audio().samples
    assert list(samples) == [0, 0, 0, 32767, -32768]
    with pytest.raises(AudioFormatError, match="format changed"):
        stream.add(AudioFormat(16_000, 2, 1), b"\0\0")
