"""Spoken conversations: audio in (a microphone or a WAV file), speech out (a speaker or a WAV).

`VoiceConversation` feeds audio blocks to an audio pipeline as `AudioFrame`s, plays each
`SpeechChunk` the moment it exists, and handles barge-in: when the VAD reports new speech while
the assistant is talking, playback stops, an `Interrupt` cancels what is left of the earlier
turns, and the new utterance is handled as the next turn. Each utterance the VAD finds is one
turn; a `TurnRecord` per turn says what was heard, answered and how fast.

A file can be fed as fast as the machine allows (the replies are then joined in turn order: there
is no timeline to interrupt), or in real time, exactly as a microphone would deliver it: then
playback happens on the file's own clock, barge-in works, and voice-to-voice latency is measured.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from assistant.audio.wav import SAMPLE_RATE, Audio, frames, resample
from assistant.core.conversation import Conversation
from assistant.core.planner import INPUT, PipelinePlan
from assistant.core.runner import Pipeline
from assistant.messages import (
    AudioFrame,
    Interrupt,
    Message,
    Reply,
    Said,
    SessionEnd,
    SessionStart,
    SpeechChunk,
    SpeechStarted,
    Transcript,
    TurnEnd,
    TurnStart,
)
from assistant.session import APOLOGY, TurnRecord, TurnRecorder, hand_over, new_session_id

log = logging.getLogger(__name__)

FRAME_MS = 32  # one Silero window at 16 kHz: each frame is one VAD step
GAP_S = 0.6
"""Silence between two replies in a file of replies joined in turn order."""


class Playback(Protocol):
    """Where speech goes: a speaker, or a timeline that becomes a WAV file."""

    def play(self, pcm: bytes, sample_rate: int) -> None: ...

    def stop(self) -> None: ...

    @property
    def playing(self) -> bool: ...

    async def drain(self) -> None: ...


def to_int16(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return samples.astype(np.int16, copy=False)
    resampled = resample(samples.astype(np.float32), from_rate, to_rate)
    return np.clip(np.round(resampled), -32768, 32767).astype(np.int16)


def recognizer(plan: PipelinePlan) -> str | None:
    """The stage that first makes a `Transcript` (the speech recognizer): a typed turn begins
    as its output. Later stages may pass the transcript on (a guard redacts it)."""
    for stage in plan.stages:
        if Transcript in stage.cls.produces and Transcript not in stage.cls.consumes:
            return stage.name
    return None


class Timeline:
    """A virtual speaker on the wall clock: audio is laid down where it would have played, so
    the file it becomes sounds like the conversation did, barge-ins (cut replies) included."""

    def __init__(self, sample_rate: int = 22_050, clock: Callable[[], float] = time.monotonic):
        self.sample_rate = sample_rate
        self.clock = clock
        self.start = clock()
        self.samples = np.zeros(0, dtype=np.int16)
        self.cursor = 0  # where queued audio ends, in samples from `start`

    def _now(self) -> int:
        return int((self.clock() - self.start) * self.sample_rate)

    def play(self, pcm: bytes, sample_rate: int) -> None:
        audio = to_int16(np.frombuffer(pcm, dtype="<i2"), sample_rate, self.sample_rate)
        begin = max(self._now(), self.cursor)
        end = begin + len(audio)
        if end > len(self.samples):
            self.samples = np.concatenate(
                [self.samples, np.zeros(end - len(self.samples), np.int16)]
            )
        self.samples[begin:end] = audio
        self.cursor = end

    def stop(self) -> None:
        now = self._now()
        if self.cursor > now:
            self.samples[now : self.cursor] = 0
            self.cursor = now

    @property
    def playing(self) -> bool:
        return self.cursor > self._now()

    async def drain(self) -> None:
        remaining = (self.cursor - self._now()) / self.sample_rate
        if remaining > 0:
            await asyncio.sleep(remaining)

    def audio(self) -> Audio | None:
        return Audio(self.samples[: self.cursor], self.sample_rate) if self.cursor else None


def join_speech(chunks: Iterable[SpeechChunk], sample_rate: int) -> Audio | None:
    """Replies one after another at one sample rate, with a short gap after each reply."""
    parts: list[np.ndarray] = []
    for chunk in chunks:
        samples = np.frombuffer(chunk.pcm, dtype="<i2")
        parts.append(to_int16(samples, chunk.sample_rate, sample_rate))
        if chunk.final:
            parts.append(np.zeros(int(GAP_S * sample_rate), dtype=np.int16))
    if not any(len(p) for p in parts):
        return None
    return Audio(samples=np.concatenate(parts), sample_rate=sample_rate)


async def file_blocks(
    audio: Audio, *, realtime: bool, frame_ms: int = FRAME_MS
) -> AsyncIterator[bytes]:
    """A 16 kHz mono file as microphone-sized blocks, at its own pace if `realtime`."""
    start = time.monotonic()
    for index, pcm in enumerate(frames(audio, frame_ms)):
        if realtime:
            # A microphone hands a block over once its last sample has been spoken.
            due = start + (index + 1) * frame_ms / 1000
            await asyncio.sleep(max(due - time.monotonic(), 0))
        yield pcm


@dataclass
class VoiceResult:
    records: list[TurnRecord]
    chunks: list[SpeechChunk]  # every reply's audio, in the order it was produced

    def speech(self) -> Audio | None:
        rates = [c.sample_rate for c in self.chunks if c.pcm]
        return join_speech(self.chunks, rates[0]) if rates else None


class VoiceConversation:
    """One spoken session over a started pipeline whose input is audio.

    Its turns begin where the VAD hears speech: each frame carries the id the conversation would
    give its next turn, the VAD begins the turn with it (`TurnStart`) and ends it after the
    utterance, and the turn is over when its `TurnEnd` has left the pipeline. A turn that failed
    before anything was said gets an apology, spoken as a short turn of its own under the same
    id, so the user is never left waiting in silence."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        playback: Playback | None = None,
        session_id: str | None = None,
        barge_in: bool = True,
        on_turn: Callable[[TurnRecord], None] | None = None,
        user: str | None = None,
        interactive: bool = True,
    ) -> None:
        self.pipeline = pipeline
        self.user, self.interactive = user, interactive
        self.bus = pipeline.bus
        self.playback = playback
        self.session_id = session_id or new_session_id()
        self.conversation = Conversation(self.bus, pipeline.plan, self.session_id)
        self.barge_in = barge_in
        self.on_turn = on_turn
        plan = pipeline.plan
        self.recorder = TurnRecorder(plan, self.session_id)
        self.speech_sender = plan.last_producer(SpeechChunk)
        self.reply_sender = plan.last_producer(Reply)
        self.chunks: list[SpeechChunk] = []
        self.records: dict[int, TurnRecord] = {}
        self.interrupted: set[int] = set()
        self.apologized: set[int] = set()
        self.open_turns: dict[int, asyncio.Future[None]] = {}
        self.stream_start: float | None = None  # set when the input is real time
        self.stamped = 0  # the turn id on the last frame fed (the VAD may begin that turn)
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, blocks: AsyncIterator[bytes], *, realtime: bool) -> VoiceResult:
        """Feed every block, then end the stream and wait for every reply to be spoken."""
        removers = [self.bus.observe(self.recorder), self.bus.observe(self._observe)]
        session = self.session_id
        try:
            start = SessionStart(
                session_id=session, turn_id=0, user=self.user, interactive=self.interactive
            )
            await self.bus.publish(start, INPUT)
            async for pcm in blocks:
                if realtime and self.stream_start is None:
                    # The first block arrives once spoken: the stream began one block ago.
                    self.stream_start = time.monotonic() - len(pcm) / (2 * SAMPLE_RATE)
                    if isinstance(self.playback, Timeline):
                        self.playback.start = self.stream_start  # the input's 0 s is its 0 s
                next_turn = self.stamped = self.conversation.turn_id + 1
                frame = AudioFrame(session_id=session, turn_id=next_turn, pcm=pcm)
                await self.bus.publish(frame, INPUT)
            await self.conversation.end_stream()  # the VAD lets go of speech still pending
            await self._settle()
            if self.playback is not None:
                await self.playback.drain()
            await self.bus.publish(SessionEnd(session_id=session, turn_id=0, reason="end"), INPUT)
        finally:
            for remove in removers:
                remove()
            self.conversation.close()
        for turn, record in self.records.items():
            # Playback went on after the turn was done: a barge-in may have cut it since.
            record.interrupted = turn in self.interrupted
        return VoiceResult([self.records[t] for t in sorted(self.records)], self.chunks)

    async def type_turn(self, text: str) -> int:
        """A typed turn of this spoken conversation (a browser's text box): it begins after the
        speech recognizer, as if it had heard `text`, and is answered in speech like any other.
        Call it while `run` is running. Returns the turn's id."""
        asr = recognizer(self.pipeline.plan)
        if asr is None:
            raise ValueError(f"the {self.pipeline.plan.name!r} pipeline has no speech recognizer")
        # Frames already fed carry at most `stamped`: the VAD may still begin that turn.
        turn = max(self.conversation.turn_id, self.stamped) + 1
        self.conversation.turn_id = turn
        transcript = Transcript(session_id=self.session_id, turn_id=turn, text=text)
        await self.conversation.publish_turn(turn, transcript, origin=asr)
        return turn

    def interrupt(self, reason: str = "user") -> None:
        """Stop talking (the user asked to): playback stops and what is left of the turns so
        far is cancelled; the conversation goes on."""
        turn = self.conversation.turn_id
        if self.playback is not None:
            self.playback.stop()
        if turn < 1:
            return
        self.interrupted.update(range(1, turn + 1))
        interrupt = Interrupt(session_id=self.session_id, turn_id=turn, reason=reason)
        self._spawn(self.bus.publish(interrupt, INPUT))

    async def _settle(self) -> None:
        """Until every turn begun is over (apologies included) and no interrupt is pending."""
        while self.open_turns or self._tasks:
            await asyncio.gather(*self.open_turns.values(), *self._tasks)

    def _observe(self, message: Message, sender: str) -> None:
        if message.session_id != self.session_id:
            return
        match message:
            case TurnStart() if sender != INPUT and message.turn_id > 0:
                self._begun(message.turn_id)
            case SpeechChunk() if sender == self.speech_sender:
                self._speak(message)
            case SpeechStarted():
                self._maybe_barge_in(message)
            case Interrupt() if sender != INPUT:
                self._withdrawn(message)

    def _begun(self, turn: int) -> None:
        """A stage began turn `turn` (the VAD heard speech): wait for its end."""
        if turn in self.open_turns or turn in self.records:
            return
        self.conversation.turn_id = max(self.conversation.turn_id, turn)
        done = self.conversation.expect(turn)
        self.open_turns[turn] = done
        done.add_done_callback(lambda _: self._turn_over(turn))

    def _turn_over(self, turn: int) -> None:
        self.open_turns.pop(turn, None)
        record = self.recorder.turns.get((self.session_id, turn))
        if record is not None and self._needs_apology(record):
            self.apologized.add(turn)
            done = self.conversation.expect(turn)
            self.open_turns[turn] = done
            done.add_done_callback(lambda _: self._turn_over(turn))
            self._spawn(self._apologize(turn))
            return
        self._finish(turn)

    def _needs_apology(self, record: TurnRecord) -> bool:
        """A stage failed and nothing was said: the turn would end in silence."""
        turn = record.turn_id
        if turn in self.apologized or turn in self.interrupted or self.reply_sender is None:
            return False
        failed = any(e.stage != self.speech_sender for e in record.errors)
        return failed and not record.of(Said, self.reply_sender)

    async def _apologize(self, turn: int) -> None:
        """Say sorry in the reply stage's place, as a short turn of its own under the same id."""
        sender = self.reply_sender or INPUT
        session = self.session_id
        await self.bus.publish(TurnStart(session_id=session, turn_id=turn, origin=sender), sender)
        await self.bus.publish(Reply(session_id=session, turn_id=turn, text=APOLOGY), sender)
        await self.bus.publish(TurnEnd(session_id=session, turn_id=turn), sender)

    def _speak(self, chunk: SpeechChunk) -> None:
        if chunk.turn_id in self.interrupted:
            return  # synthesized before the interrupt arrived: never played
        self.chunks.append(chunk)
        if self.playback is not None and chunk.pcm:
            self.playback.play(chunk.pcm, chunk.sample_rate)

    def _maybe_barge_in(self, started: SpeechStarted) -> None:
        if not (self.barge_in and self.playback is not None and self.playback.playing):
            return
        self.playback.stop()
        earlier = started.turn_id - 1
        self.interrupted.update(range(1, started.turn_id))
        log.debug("barge-in at %.2f s: turns up to %d interrupted", started.at_s, earlier)
        interrupt = Interrupt(session_id=self.session_id, turn_id=earlier, reason="barge-in")
        self._spawn(self.bus.publish(interrupt, INPUT))

    def _withdrawn(self, interrupt: Interrupt) -> None:
        """A stage withdrew earlier turns (the VAD heard the user go on with the last request,
        whose audio the next turn carries): their replies are never played."""
        self.interrupted.update(range(max(interrupt.first_turn_id, 1), interrupt.turn_id + 1))
        if self.playback is not None and self.playback.playing:
            self.playback.stop()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _finish(self, turn: int) -> None:
        """Move a turn's record out of the recorder (once) and report it."""
        if turn in self.records or (self.session_id, turn) not in self.recorder.turns:
            return
        record = self.recorder.pop(self.session_id, turn)
        record.interrupted = turn in self.interrupted
        record.stream_start = self.stream_start
        self.records[turn] = record
        hand_over(self.pipeline, record)
        if self.on_turn is not None:
            self.on_turn(record)


async def converse_file(
    pipeline: Pipeline, audio: Audio, *, session_id: str | None = None
) -> VoiceResult:
    """Run one audio file through a started audio pipeline as fast as it goes."""
    conversation = VoiceConversation(pipeline, session_id=session_id, interactive=False)
    return await conversation.run(file_blocks(audio, realtime=False), realtime=False)
