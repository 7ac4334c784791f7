"""What every Whisper engine shares: the result record, the confidence score, and turning PCM
bytes at any rate into the 16 kHz float samples Whisper hears.

An engine implements `decode`; `transcribe(pcm, sample_rate)` and `recognize(audio)` are the
calls a user makes (blocking: run them in a worker thread under an event loop).

Every path to Whisper goes through `recognize`, which puts `PAD_S` of silence before and after
the audio: Whisper loses or mishears a first word that starts at the very first sample ("add" ->
"and", "what's" -> "was"), and a file that begins with speech (eSpeak's output, a trimmed
recording) or a VAD utterance at the start of a stream has no lead-in of its own. The padding is
free: Whisper's encoder always hears a 30 s window. `prompt` is the text Whisper is primed with
(`initial_prompt`: see `assistant.speech.priming`), None for none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from math import exp
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.audio.wav import SAMPLE_RATE, Audio, resample

PAD_S = 0.3  # silence around what Whisper hears (0.25 s already keeps the first word)


@dataclass(frozen=True, slots=True)
class Recognized:
    text: str
    language: str
    confidence: float


def confidence(segments: Sequence[Any]) -> float:
    """exp of the token-weighted mean log-probability of the decoded tokens, in [0, 1]: about
    0.85-0.95 for clear speech, lower for mumbling or noise. 0 when nothing was decoded."""
    weights = [max(len(s.tokens), 1) for s in segments]
    if not weights:
        return 0.0
    mean = sum(s.avg_logprob * w for s, w in zip(segments, weights, strict=True)) / sum(weights)
    return min(max(exp(mean), 0.0), 1.0)


class WhisperEngine(ABC):
    """A loaded Whisper model with its decoding options. One utterance per call: no
    timestamps, no conditioning on earlier text."""

    def __init__(
        self,
        *,
        language: str | None = "en",
        beam_size: int = 5,
        prompt: str | None = None,
        pad_s: float = PAD_S,
    ) -> None:
        self.language = language  # None: detect it
        self.beam_size = beam_size
        self.prompt = prompt or None  # initial_prompt: words Whisper should expect
        self.pad_s = pad_s

    @abstractmethod
    def decode(self, samples: npt.NDArray[np.float32]) -> Recognized:
        """Blocking: transcribe 16 kHz mono float samples in [-1, 1) (never empty)."""

    def recognize(self, audio: Audio) -> Recognized:
        """Blocking: 16-bit audio at any rate; an empty one gives an empty text."""
        samples = self.heard(audio)
        if samples is None:
            return Recognized("", self.language or "en", 0.0)
        return self.decode(samples)

    def heard(self, audio: Audio) -> npt.NDArray[np.float32] | None:
        """What `decode` is given for this audio: 16 kHz floats, padded; None if it is empty."""
        samples = audio.samples.astype(np.float32) / 32768.0
        samples = resample(samples, audio.sample_rate, SAMPLE_RATE)
        return padded(samples, self.pad_s) if samples.size else None

    def transcribe(self, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> Recognized:
        """Blocking: mono 16-bit little-endian PCM bytes at `sample_rate`."""
        return self.recognize(Audio.from_pcm(pcm, sample_rate))


def padded(samples: npt.NDArray[np.float32], pad_s: float) -> npt.NDArray[np.float32]:
    """16 kHz samples with `pad_s` of silence on each side."""
    pad = np.zeros(round(pad_s * SAMPLE_RATE), dtype=np.float32)
    return np.concatenate([pad, samples, pad])
