"""Voice conversations over audio files: a WAV in, every reply spoken into one WAV out.

The file is fed to the pipeline as `AudioFrame`s, exactly as a microphone would feed it, then an
empty frame marks the end of the stream so the endpointer lets go of the last utterance. Each
utterance the VAD finds is one turn; the speech of the replies is collected in turn order.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from assistant.audio.wav import Audio, frames, resample
from assistant.messages import AudioFrame, Message, SessionEnd, SessionStart, SpeechChunk
from assistant.pipeline import INPUT, Pipeline
from assistant.session import TurnRecord, TurnRecorder, new_session_id

GAP_S = 0.6
"""Silence between two replies in the output file."""


@dataclass
class VoiceResult:
    records: list[TurnRecord]
    speech: Audio | None  # every reply, in turn order; None when nothing was said
    chunks: dict[int, list[SpeechChunk]] = field(default_factory=dict)


class SpeechCollector:
    """Bus observer keeping the speech chunks that leave the pipeline, per turn."""

    def __init__(self, final_sender: str | None) -> None:
        self.final_sender = final_sender
        self.chunks: dict[int, list[SpeechChunk]] = defaultdict(list)

    def __call__(self, message: Message, sender: str) -> None:
        if isinstance(message, SpeechChunk) and sender == self.final_sender:
            self.chunks[message.turn_id].append(message)


def join_speech(chunks: dict[int, list[SpeechChunk]], sample_rate: int) -> Audio | None:
    """All replies in turn order at one sample rate, with a short gap between replies."""
    parts: list[np.ndarray] = []
    gap = np.zeros(int(GAP_S * sample_rate), dtype=np.int16)
    for turn in sorted(chunks):
        for chunk in chunks[turn]:
            samples = np.frombuffer(chunk.pcm, dtype="<i2")
            if chunk.sample_rate != sample_rate:
                resampled = resample(samples.astype(np.float32), chunk.sample_rate, sample_rate)
                samples = np.clip(np.round(resampled), -32768, 32767).astype(np.int16)
            parts.append(samples.astype(np.int16, copy=False))
        parts.append(gap)
    if not parts:
        return None
    return Audio(samples=np.concatenate(parts), sample_rate=sample_rate)


async def converse_file(
    pipeline: Pipeline, audio: Audio, *, session_id: str | None = None, frame_ms: int = 32
) -> VoiceResult:
    """Run one audio file through a started audio pipeline."""
    bus = pipeline.bus
    session = session_id or new_session_id()
    recorder = TurnRecorder(pipeline.plan)
    collector = SpeechCollector(pipeline.plan.last_producer(SpeechChunk))
    removers = [bus.observe(recorder), bus.observe(collector)]
    try:
        await bus.publish(SessionStart(session_id=session, turn_id=0), INPUT)
        for pcm in frames(audio, frame_ms):
            await bus.publish(AudioFrame(session_id=session, turn_id=0, pcm=pcm), INPUT)
        await bus.publish(AudioFrame(session_id=session, turn_id=0, pcm=b""), INPUT)
        await bus.join()
        await bus.publish(SessionEnd(session_id=session, turn_id=0, reason="end of file"), INPUT)
        await bus.join()
    finally:
        for remove in removers:
            remove()
    records = [
        recorder.pop(session, turn)
        for turn in sorted(t for s, t in recorder.turns if s == session and t > 0)
    ]
    rates = [c.sample_rate for turn in collector.chunks.values() for c in turn if c.pcm]
    speech = join_speech(collector.chunks, rates[0]) if rates else None
    return VoiceResult(records=records, speech=speech, chunks=dict(collector.chunks))
