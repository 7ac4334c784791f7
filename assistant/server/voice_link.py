"""Spoken conversations for the WebSocket: one started voice pipeline, many conversations.

A `VoiceLink` is one conversation (one WebSocket connection): a `VoiceConversation` over the
shared voice pipeline, fed the client's PCM as its microphone, with a `SocketPlayback` that
sends each reply's audio back as 16 kHz 16-bit mono PCM. Typed text is a turn of the same
conversation, begun after the speech recognizer. What happens in the conversation goes out as
events (plain dicts, JSON on the wire) through one `Send` function; the link knows no aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.audio.wav import SAMPLE_RATE
from assistant.core.planner import INPUT
from assistant.core.runner import Pipeline
from assistant.dialogue.events import FeedbackGiven
from assistant.messages import (
    DialogueUpdate,
    Message,
    Refusal,
    Reply,
    Said,
    SpeechStarted,
    Transcript,
    TranscriptDraft,
)
from assistant.session import TurnRecord
from assistant.voice import VoiceConversation, recognizer, to_int16

log = logging.getLogger(__name__)

BLOCK_BYTES = 1024  # 32 ms of 16 kHz 16-bit mono: one VAD step, as a microphone gives them
INPUT_BLOCKS = 256  # ~8 s of audio waiting for the pipeline; the socket waits beyond that

Event = dict[str, Any]
Send = Callable[[Event | bytes], None]
"""Queues an event (a dict, sent as JSON) or audio (bytes) for the client; never blocks."""


class SocketPlayback:
    """Reply audio to the client, at 16 kHz. The client plays it as it comes; this keeps the
    clock of when that playing ends, so barge-in knows whether the assistant is talking."""

    def __init__(self, send: Send, clock: Callable[[], float] = time.monotonic) -> None:
        self.send = send
        self.clock = clock
        self.until = 0.0  # when the audio sent so far has been played
        self.closed = False  # the client is gone: nothing to wait for

    def play(self, pcm: bytes, sample_rate: int) -> None:
        samples = to_int16(np.frombuffer(pcm, dtype="<i2"), sample_rate, SAMPLE_RATE)
        self.until = max(self.clock(), self.until) + len(samples) / SAMPLE_RATE
        self.send(samples.astype("<i2", copy=False).tobytes())

    def stop(self) -> None:
        if self.playing:
            self.send({"type": "interrupted"})
        self.until = 0.0

    @property
    def playing(self) -> bool:
        return self.clock() < self.until

    async def drain(self) -> None:
        while not self.closed and self.playing:
            await asyncio.sleep(min(self.until - self.clock(), 0.1))


@dataclass
class VoiceService:
    """The started voice pipeline that every WebSocket conversation shares (the caller starts
    and stops it), and the links open on it."""

    pipeline: Pipeline
    max_links: int = 32  # conversations at once: each costs the VAD and ASR a share of the CPU
    links: set[VoiceLink] = field(default_factory=set)
    opening: set[str] = field(default_factory=set)  # conversation ids being upgraded
    turns: int = 0  # turns finished, over every link
    slow_clients: int = 0  # connections dropped because they stopped reading
    closing: bool = False
    observers: list[Callable[[str, TurnRecord], None]] = field(default_factory=list)
    """Called with the conversation id and the record after every turn (metrics, tests)."""

    async def close(self) -> None:
        """End every link's input and wait until their turns are over."""
        self.closing = True
        for link in list(self.links):
            link.end_input()
        tasks = [link.task for link in list(self.links) if link.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)


class VoiceLink:
    """One conversation on the voice pipeline, driven by one client."""

    def __init__(
        self, service: VoiceService, conversation_id: str, send: Send, user: str | None = None
    ) -> None:
        self.service = service
        self.conversation_id = conversation_id
        self.send = send
        self.playback = SocketPlayback(send)
        pipeline = service.pipeline
        self.voice = VoiceConversation(
            pipeline,
            playback=self.playback,
            session_id=conversation_id,
            on_turn=self._turn,
            user=user or conversation_id,
        )
        plan = pipeline.plan
        self.asr = recognizer(plan)
        # Whether a stage stores the dialogue's events (the tracker takes DialogueUpdates).
        self.dialogue = any(DialogueUpdate in stage.cls.feedback for stage in plan.stages)
        self.final = plan.final_producers(Reply, Refusal)
        self.blocks: asyncio.Queue[bytes | None] = asyncio.Queue(INPUT_BLOCKS)
        self.pending = b""  # the start of a block not yet whole
        self.started = asyncio.Event()  # the conversation has begun: turns may come
        self.task: asyncio.Task[None] | None = None
        self._remove: Callable[[], None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Begin the conversation; the task ends when it is over (after `end_input`)."""
        self._remove = self.service.pipeline.bus.observe(self._observe)
        self.service.links.add(self)
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self.task

    async def _run(self) -> None:
        try:
            await self.voice.run(self._blocks(), realtime=True)
        except Exception:
            log.exception("voice conversation %s failed", self.conversation_id)
            self.send({"type": "error", "error": "the conversation failed on the server"})
        finally:
            if self._remove is not None:
                self._remove()
            self.service.links.discard(self)

    async def _blocks(self) -> AsyncIterator[bytes]:
        self.started.set()
        while (block := await self.blocks.get()) is not None:
            yield block

    async def audio(self, pcm: bytes) -> None:
        """Microphone audio from the client, cut into VAD-sized blocks."""
        data = self.pending + pcm
        whole = len(data) - len(data) % BLOCK_BYTES
        self.pending = data[whole:]
        for offset in range(0, whole, BLOCK_BYTES):
            await self.blocks.put(data[offset : offset + BLOCK_BYTES])

    async def text(self, text: str) -> int:
        """A typed turn; its reply comes as events (and audio) like a spoken one's. Typed while
        the assistant talks, it interrupts, as speaking would."""
        await self.started.wait()
        if self.playback.playing:
            self.voice.interrupt("typed")
        return await self.voice.type_turn(text)

    def interrupt(self) -> None:
        self.voice.interrupt("user")

    async def feedback(self, turn: int, rating: str, comment: str) -> bool:
        """Store the user's rating of turn `turn` as a tracker event (`FeedbackGiven`), through
        the tracker stage that owns the conversation's events. False when the turn has not
        begun in this conversation, or the pipeline keeps no tracker."""
        if not 1 <= turn <= self.voice.conversation.turn_id or not self.dialogue:
            return False
        event = FeedbackGiven(turn=turn, rating=rating, comment=comment)
        # Turn 0: the conversation's own message, part of no turn (and of no turn's record).
        update = DialogueUpdate(session_id=self.conversation_id, turn_id=0, events=(event,))
        await self.service.pipeline.bus.publish(update, INPUT)
        for keeper in self.service.pipeline.context.keepers:  # and the consented records
            keeper.rate(self.conversation_id, turn, rating, comment)
        return True

    def end_input(self) -> None:
        """No more input: the turns begun finish (their replies still go out if the client is
        there), then the conversation ends."""
        try:
            self.blocks.put_nowait(None)
        except asyncio.QueueFull:  # the pipeline is behind: drop the waiting audio
            while not self.blocks.empty():
                self.blocks.get_nowait()
            self.blocks.put_nowait(None)

    async def finish(self, client_gone: bool) -> None:
        """End the input and wait for the turns in flight to complete (and be stored)."""
        self.playback.closed = client_gone
        self.end_input()
        if self.task is not None:
            await asyncio.shield(self.task)

    # --- events ----------------------------------------------------------------------------------

    def _observe(self, message: Message, sender: str) -> None:
        if message.session_id != self.conversation_id:
            return
        turn = message.turn_id
        if isinstance(message, Transcript) and sender == self.asr:
            self.send({"type": "transcript", "turn": turn, "text": message.text, "final": True})
        elif isinstance(message, TranscriptDraft) and sender == self.asr:
            self.send({"type": "transcript", "turn": turn, "text": message.text, "final": False})
        elif isinstance(message, Said) and sender in self.final:
            self._said(message)
        elif isinstance(message, SpeechStarted):
            self.send({"type": "speech_started", "turn": turn, "at_s": round(message.at_s, 3)})

    def _said(self, said: Said) -> None:
        if said.proactive or said.turn_id < 0:
            if said.text:
                self.send({"type": "proactive", "turn": said.turn_id, "text": said.text})
            return
        self.send(
            {
                "type": "reply",
                "turn": said.turn_id,
                "text": said.text,
                "part": said.part,
                "more": said.more,
                "refusal": isinstance(said, Refusal),
            }
        )
        if said.tone is not None and said.part == 0:
            tone = said.tone
            self.send(
                {"type": "tone", "turn": said.turn_id, "style": tone.style, "reason": tone.reason}
            )

    def _turn(self, record: TurnRecord) -> None:
        self.service.turns += 1
        for observer in self.service.observers:
            try:
                observer(self.conversation_id, record)
            except Exception:
                log.exception("a turn observer failed")
        turn = record.turn_id
        audio = record.audio_json() or {}
        self.send(
            {
                "type": "timings",
                "turn": turn,
                "timings_ms": record.timings_ms(),
                "voice_to_voice_ms": audio.get("voice_to_voice_ms"),
            }
        )
        for error in record.errors:
            self.send(
                {
                    "type": "error",
                    "turn": turn,
                    "error": f"stage {error.stage} failed; the turn was answered with an apology",
                }
            )
        self.send({"type": "turn", "turn": turn, "record": record.to_json()})
