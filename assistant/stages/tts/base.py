"""The shared part of every tts stage: `Reply` (or `Refusal`) in, one `SpeechChunk` per
sentence out (a long first sentence as two: its first clause, then the rest), each published as
soon as it is synthesized, so playback of the first sentence overlaps synthesis of the next. A
backend's `load()` (once, in the worker thread) sets `synthesizer`, an
`assistant.speech.tts.Synthesizer`, which does the sentence splitting and pauses; adding an
engine is one class there and one small stage here.

A reply that comes in pieces (the language model's sentences as it writes them; see
`assistant.stages.said`) is spoken piece by piece as the pieces come; only the last sentence of
the last piece is the `final` chunk, and the sentence pause goes before each later piece's first
sentence.

How a reply is delivered reaches the engine as an argument (`Delivery`) rather than being read
from `self.params`: the tone stage's per-reply `Reply.prosody` hints (a calmer, slower voice for an
upset user) are applied here once, for every backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import ClassVar

from pydantic import Field

from assistant.core.stage import StageParams
from assistant.messages import Message, Said, SpeechChunk
from assistant.speech.tts import Delivery, SpokenSentence, Synthesizer
from assistant.stages.said import Piece, SaidStage


class TTSParams(StageParams):
    """Parameters common to all TTS backends: the prosody hints a tone stage will set."""

    length_scale: float = Field(
        1.0, gt=0.2, le=5.0, description="speaking time: 1.0 normal, >1 slower, <1 faster"
    )
    sentence_pause_ms: int = Field(
        250, ge=0, le=5000, description="silence between sentences (not after the last one)"
    )


class TTSStage(SaidStage[None]):
    """Abstract speech synthesis: `Reply` in, one `SpeechChunk` per sentence out."""

    kind: ClassVar[str] = "tts"
    produces = (SpeechChunk,)
    Params: ClassVar[type[StageParams]] = TTSParams
    params: TTSParams

    # Backends may set the real rate in load(); it is also updated from every synthesis. Only
    # the empty final chunk of an empty reply uses it before anything was synthesized.
    sample_rate: int = 22_050

    synthesizer: Synthesizer  # set by the backend's load()

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
        # Earlier pieces were spoken: the pause goes before this one rather than after theirs,
        # since a piece does not know whether another with words will follow.
        sentences = self.synthesizer.speak(
            message.text,
            self.delivery_for(message),
            pause_first=not piece.first,
            first_clause=piece.first,  # only the reply's first audio is worth hurrying
        )
        spoken = False
        while (sentence := await self.run_blocking(_next, sentences)) is not None:
            spoken = True
            self.sample_rate = rate = sentence.sample_rate
            final = sentence.last and piece.last
            yield self._chunk(message, sentence.pcm, rate, sentence.text, final=final)
        if not spoken and piece.last:
            # An empty reply (or last piece) still ends with one empty final chunk, so that
            # downstream (the speaker, turn bookkeeping) learns the reply is over instead of
            # waiting for audio. An empty piece with more to come says nothing.
            yield self._chunk(message, b"", self.sample_rate, "", final=True)

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


def _next(sentences: Iterator[SpokenSentence]) -> SpokenSentence | None:
    """The next sentence, synthesized in the calling (worker) thread; None after the last."""
    return next(sentences, None)
