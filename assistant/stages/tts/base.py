"""The shared part of every speech-synthesis backend: sentence streaming and prosody.

A `TTSStage` turns each `Reply` into `SpeechChunk`s, one per sentence, each published as soon as
it is synthesized, so playback of the first sentence overlaps synthesis of the next. A backend
implements only `load()` (once, in the worker thread) and `synthesize(text, prosody)` for one
sentence; adding an engine is one module.

A reply that comes in pieces (the language model's sentences as it writes them; see
`assistant.stages.said`) is spoken piece by piece as the pieces come; only the last sentence of
the last piece is the `final` chunk, and the sentence pause goes before each later piece's first
sentence.

How a reply is delivered reaches the backend as an argument (`Delivery`) rather than being read
from `self.params`: the tone stage's per-reply `Reply.prosody` hints (a calmer, slower voice for an
upset user) are applied here once, for every backend.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from assistant.core.stage import StageParams
from assistant.messages import Message, Said, SpeechChunk
from assistant.stages.said import Piece, SaidStage
from assistant.text.sentences import split_sentences
from assistant.text.spoken import speakable

BYTES_PER_SAMPLE = 2  # 16-bit little-endian mono PCM, as every SpeechChunk carries


class TTSParams(StageParams):
    """Parameters common to all TTS backends: the prosody hints a tone stage will set."""

    length_scale: float = Field(
        1.0, gt=0.2, le=5.0, description="speaking time: 1.0 normal, >1 slower, <1 faster"
    )
    sentence_pause_ms: int = Field(
        250, ge=0, le=5000, description="silence between sentences (not after the last one)"
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one reply is spoken: what a backend must honour in `synthesize`."""

    length_scale: float = 1.0
    sentence_pause_ms: int = 250


class TTSStage(SaidStage[None]):
    """Abstract speech synthesis: `Reply` in, one `SpeechChunk` per sentence out."""

    kind: ClassVar[str] = "tts"
    produces = (SpeechChunk,)
    Params: ClassVar[type[StageParams]] = TTSParams
    params: TTSParams

    # Backends may set the real rate in load(); it is also updated from every synthesis. Only
    # the empty final chunk of an empty reply uses it before anything was synthesized.
    sample_rate: int = 22_050

    @abstractmethod
    def synthesize(self, text: str, delivery: Delivery) -> tuple[bytes, int]:
        """Speak one sentence (blocking): 16-bit LE mono PCM and its sample rate."""

    def delivery_for(self, reply: Said) -> Delivery:
        """The stage's settings, adjusted by the reply's prosody hints if it has any."""
        hints = reply.prosody
        if hints is None:
            return Delivery(self.params.length_scale, self.params.sentence_pause_ms)
        pause = hints.sentence_pause_ms
        return Delivery(
            # A slower rate is a longer time per phoneme.
            length_scale=self.params.length_scale / max(hints.rate, 0.2),
            sentence_pause_ms=self.params.sentence_pause_ms if pause is None else pause,
        )

    async def say(self, message: Said, state: None, piece: Piece) -> AsyncIterator[Message]:
        sentences = split_sentences(message.text)
        if not sentences:
            if not piece.last:
                return  # a piece with nothing to say; the rest of the reply follows
            # An empty reply (or last piece) still ends with one empty final chunk, so that
            # downstream (the speaker, turn bookkeeping) learns the reply is over instead of
            # waiting for audio.
            yield self._chunk(message, b"", self.sample_rate, "", final=True)
            return
        delivery = self.delivery_for(message)
        last = len(sentences) - 1
        for index, sentence in enumerate(sentences):
            pcm, rate = await self.run_blocking(self.synthesize, speakable(sentence), delivery)
            self.sample_rate = rate
            if index == 0 and not piece.first:
                # Earlier pieces were spoken: the pause goes before this one rather than after
                # theirs, since a piece does not know whether another with words will follow.
                pcm = silence(rate, delivery.sentence_pause_ms) + pcm
            if index < last:
                # The pause separates sentences; after the last one it would only delay the
                # moment the turn is known to be fully spoken.
                pcm += silence(rate, delivery.sentence_pause_ms)
            final = index == last and piece.last
            yield self._chunk(message, pcm, rate, sentence, final=final)

    @staticmethod
    def _chunk(reply: Said, pcm: bytes, rate: int, text: str, *, final: bool) -> SpeechChunk:
        return SpeechChunk(
            session_id=reply.session_id,
            turn_id=reply.turn_id,
            pcm=pcm,
            sample_rate=rate,
            text=text,
            final=final,
        )


def silence(sample_rate: int, milliseconds: int) -> bytes:
    """Zeroed 16-bit PCM of the given length."""
    return bytes(BYTES_PER_SAMPLE * (sample_rate * milliseconds // 1000))
