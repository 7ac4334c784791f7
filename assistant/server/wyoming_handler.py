"""One Wyoming connection (the server is `assistant.server.wyoming`): what a client sends,
and what it gets. Home Assistant opens one connection per request.

- `describe` -> `info`: `asr` (the packaged Whisper models), `tts` (Piper and eSpeak NG voices),
  `handle` (the whole assistant).
- `transcribe` (optional model name and language), `audio-start`, `audio-chunk`...,
  `audio-stop` -> `transcript`. Audio of any PCM rate, width and channel count is converted to
  16 kHz mono; audio the server cannot use gets an `error` and the connection stays open.
- `synthesize` (text, optional voice) -> `audio-start`, `audio-chunk`... (1024 samples each),
  `audio-stop`, sentence by sentence as they are synthesized.
- `transcript` with `context.conversation_id` -> `handled`, the reply of that conversation (a
  new id when none is given, returned in `handled.context`).
- `ping` -> `pong`. Other event types are ignored, as Wyoming servers do. A frame that is not
  Wyoming (bad JSON, oversize) closes that connection, with an `error` saying why.

Blocking work (Whisper, synthesis, resampling) runs in worker threads, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, Eventable, async_write_event
from wyoming.handle import Handled
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeVoice

from assistant.server.hub import HubBusy
from assistant.server.wyoming_audio import AudioFormat, AudioFormatError, IncomingAudio
from assistant.server.wyoming_speech import (
    Recognizers,
    SpeechRequestError,
    Voices,
)
from assistant.session import TurnRecord

log = logging.getLogger(__name__)

MAX_DATA_BYTES = 1 << 20  # an event's JSON data
MAX_PAYLOAD_BYTES = 4 << 20  # one event's audio (Home Assistant sends a few KiB per chunk)
MAX_TEXT_CHARS = 10_000
MAX_ID_CHARS = 200
SAMPLES_PER_CHUNK = 1024
WRITE_TIMEOUT_S = 30.0  # a client that stops reading is dropped after this
E = TypeVar("E", bound=Eventable)


class Conversations(Protocol):
    """Where a `transcript` goes: one conversation per id (`assistant serve`'s hub)."""

    async def say(self, conversation_id: str, text: str) -> TurnRecord: ...


class FrameError(Exception):
    """Bytes that are not a Wyoming event: the connection is closed."""


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, None at the end of the stream; a FrameError for what is not an event
    (the library's reader would raise for some of these and wait on absurd lengths)."""
    try:
        line = await reader.readline()
    except ValueError:  # over the stream's line limit (64 KiB)
        raise FrameError("the event's header line is longer than 64 KiB") from None
    if not line.endswith(b"\n"):
        return None  # the stream ended (mid-line, or cleanly)
    try:
        header = json.loads(line)
    except ValueError:
        raise FrameError("the event's header line is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise FrameError('the event\'s header is not a JSON object with a "type" string')
    data = header.get("data") or {}
    try:
        data_length = _length(header, "data_length", MAX_DATA_BYTES)
        if data_length:
            extra = json.loads(await reader.readexactly(data_length))
            if not isinstance(data, dict) or not isinstance(extra, dict):
                raise FrameError("the event's data is not a JSON object")
            data.update(extra)
        payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES)
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None  # the client went away mid-event
    except ValueError:
        raise FrameError("the event's data is not JSON") from None
    if not isinstance(data, dict):
        raise FrameError("the event's data is not a JSON object")
    return Event(type=header["type"], data=data, payload=payload)


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise FrameError(f"{key} must be an integer from 0 to {limit}, got {value!r}")
    return value


@dataclass
class Services:
    """What every connection shares."""

    conversations: Conversations
    recognizers: Recognizers
    voices: Voices
    info: Event


class AssistantHandler(AsyncEventHandler):
    """One client connection. Its events are handled one at a time, in order."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        services: Services,
        running: dict[asyncio.Task[Any], AssistantHandler],
    ) -> None:
        super().__init__(reader, writer)
        self.services = services
        self._running = running  # the server's: a graceful stop waits for these
        self.busy = False  # handling an event: a graceful stop lets it finish
        self._model: str | None = None  # the transcribe's model; None: no transcribe pending
        self._audio: IncomingAudio | None = None
        self._rejected = False  # an error was sent: drop this stream's audio until audio-stop

    async def run(self) -> None:
        peer = self.writer.get_extra_info("peername")
        task = asyncio.current_task()
        assert task is not None
        self._running[task] = self
        self._is_running = True
        try:
            while self._is_running:
                try:
                    event = await read_event(self.reader)
                except FrameError as exc:
                    log.info("wyoming: %s: %s; closing the connection", peer, exc)
                    await self._error(f"{exc}; closing the connection", "bad-frame")
                    break
                if event is None:
                    break
                self.busy = True
                try:
                    if not await self.handle_event(event):
                        break
                finally:
                    self.busy = False
        except (ConnectionError, TimeoutError) as exc:
            log.info("wyoming: %s: connection lost (%s)", peer, exc or type(exc).__name__)
            self.writer.transport.abort()  # drop what is buffered for it: it will not read it
        except Exception:  # a bug: this connection ends, the server and the others go on
            log.exception("wyoming: %s: the connection failed", peer)
        finally:
            self._running.pop(task, None)
            await self.disconnect()
            self.writer.close()

    async def write_event(self, event: Event) -> None:
        try:
            await asyncio.wait_for(async_write_event(event, self.writer), WRITE_TIMEOUT_S)
        except TimeoutError:
            raise TimeoutError("the client stopped reading") from None

    async def handle_event(self, event: Event) -> bool:
        kind = event.type
        if Describe.is_type(kind):
            await self.write_event(self.services.info)
        elif Transcribe.is_type(kind):
            await self._transcribe(self._parse(Transcribe, event))
        elif AudioStart.is_type(kind):
            await self._audio_start(event)
        elif AudioChunk.is_type(kind):
            await self._audio_chunk(event)
        elif AudioStop.is_type(kind):
            await self._audio_stop()
        elif Synthesize.is_type(kind):
            return await self._synthesize(self._parse(Synthesize, event))
        elif Transcript.is_type(kind):
            await self._converse(self._parse(Transcript, event))
        elif Ping.is_type(kind):
            await self.write_event(Pong(text=event.data.get("text")).event())
        else:
            log.debug("wyoming: ignoring a %r event", kind)
        return True

    @staticmethod
    def _parse(cls: type[E], event: Event) -> E | str:
        """The event as its class, or what is wrong with its data."""
        try:
            return cls.from_event(event)  # type: ignore[return-value]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return f"{event.type}: malformed data ({type(exc).__name__}: {exc})"

    async def _error(self, text: str, code: str) -> None:
        log.info("wyoming: error sent: %s", text)
        with contextlib.suppress(ConnectionError, TimeoutError):  # gone: nobody to tell
            await self.write_event(Error(text=text, code=code).event())

    # --- speech to text ---------------------------------------------------------------------

    async def _transcribe(self, request: Transcribe | str) -> None:
        self._audio, self._model, self._rejected = None, None, False
        if isinstance(request, str):
            self._rejected = True
            await self._error(request, "bad-request")
            return
        try:
            self._model = self.services.recognizers.check(request.name, request.language)
        except SpeechRequestError as exc:
            self._rejected = True
            await self._error(str(exc), "bad-request")

    async def _audio_start(self, event: Event) -> None:
        if self._rejected:
            return
        try:
            self._audio = IncomingAudio(
                AudioFormat.of(event.data, "audio-start"),
                self.services.recognizers.options.max_audio_s,
            )
        except AudioFormatError as exc:
            await self._reject(str(exc))

    async def _audio_chunk(self, event: Event) -> None:
        if self._rejected:
            return
        try:
            chunk_format = AudioFormat.of(event.data, "audio-chunk")
            if self._audio is None:  # no audio-start: the first chunk says the format
                options = self.services.recognizers.options
                self._audio = IncomingAudio(chunk_format, options.max_audio_s)
            self._audio.add(chunk_format, event.payload or b"")
        except AudioFormatError as exc:
            await self._reject(str(exc))

    async def _reject(self, text: str) -> None:
        self._audio, self._rejected = None, True
        await self._error(text, "bad-audio")

    async def _audio_stop(self) -> None:
        audio, model = self._audio, self._model
        rejected = self._rejected
        self._audio, self._model, self._rejected = None, None, False
        if rejected or (audio is None and model is None):
            return  # the error was sent; or audio-stop alone, which asks for nothing
        recognizers = self.services.recognizers
        try:
            model = model or recognizers.check(None, None)
            engine = await recognizers.get(model)
            if audio is None:
                text, language = "", recognizers.options.language
            else:
                heard = await asyncio.to_thread(lambda: engine.recognize(audio.to_audio()))
                text, language = heard.text, heard.language
        except Exception as exc:
            log.exception("wyoming: transcription failed")
            await self._error(f"transcribe: speech recognition failed: {exc}", "asr-failed")
            return
        await self.write_event(Transcript(text=text, language=language).event())

    # --- text to speech ---------------------------------------------------------------------

    async def _synthesize(self, request: Synthesize | str) -> bool:
        if isinstance(request, str) or not isinstance(request.text, str):
            text = request if isinstance(request, str) else "synthesize: text must be a string"
            await self._error(text, "bad-request")
            return True
        if len(request.text) > MAX_TEXT_CHARS:
            await self._error(
                f"synthesize: the text has {len(request.text)} characters; send at most "
                f"{MAX_TEXT_CHARS} per request",
                "bad-request",
            )
            return True
        wanted = request.voice or SynthesizeVoice()
        voices = self.services.voices
        try:
            voice = voices.pick(wanted.name, wanted.language)
            synthesizer = await voices.load(voice)
        except SpeechRequestError as exc:
            await self._error(str(exc), "bad-request")
            return True
        rate = synthesizer.sample_rate
        await self.write_event(AudioStart(rate=rate, width=2, channels=1, timestamp=0).event())
        sentences = synthesizer.speak(request.text, first_clause=False)
        sent = 0  # samples
        try:
            while (sentence := await asyncio.to_thread(next, sentences, None)) is not None:
                for start in range(0, len(sentence.pcm), 2 * SAMPLES_PER_CHUNK):
                    piece = sentence.pcm[start : start + 2 * SAMPLES_PER_CHUNK]
                    chunk = AudioChunk(rate, 2, 1, piece, timestamp=sent * 1000 // rate)
                    await self.write_event(chunk.event())
                    sent += len(piece) // 2
        except (ConnectionError, TimeoutError):
            raise  # the client is gone or stopped reading: nobody to tell
        except Exception as exc:  # the audio started: a client cannot tell it is cut short
            log.exception("wyoming: synthesis failed")
            await self._error(f"synthesize: speech synthesis failed: {exc}", "tts-failed")
            return False
        await self.write_event(AudioStop(timestamp=sent * 1000 // rate).event())
        return True

    # --- conversation -----------------------------------------------------------------------

    async def _converse(self, request: Transcript | str) -> None:
        if isinstance(request, str):
            await self._error(request, "bad-request")
            return
        context = dict(request.context or {}) if isinstance(request.context, dict) else None
        if context is None and request.context is not None:
            await self._error("transcript: context must be a JSON object", "bad-request")
            return
        context = context or {}
        conversation_id = context.get("conversation_id") or uuid.uuid4().hex
        text = request.text.strip() if isinstance(request.text, str) else ""
        problem = _conversation_problem(conversation_id, text)
        if problem:
            await self._error(f"transcript: {problem}", "bad-request")
            return
        try:
            record = await self.services.conversations.say(conversation_id, text)
        except HubBusy as exc:  # open on a /ws connection
            await self._error(f"transcript: {exc}", "busy")
            return
        except Exception as exc:  # the turn itself never raises; the hub may, when stopping
            log.exception("wyoming: conversation %r failed", conversation_id)
            await self._error(f"transcript: the assistant could not answer: {exc}", "failed")
            return
        context["conversation_id"] = conversation_id
        await self.write_event(Handled(text=record.text, context=context).event())


def _conversation_problem(conversation_id: object, text: str) -> str | None:
    if not isinstance(conversation_id, str) or len(conversation_id) > MAX_ID_CHARS:
        return f"context.conversation_id must be a string of at most {MAX_ID_CHARS} characters"
    if not text:
        return "the text is empty; send what the user said"
    if len(text) > MAX_TEXT_CHARS:
        return f"the text has {len(text)} characters; send at most {MAX_TEXT_CHARS}"
    return None
