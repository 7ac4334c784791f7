"""Whisper hears the first word of a request that starts at the very first sample (eSpeak's
output has no lead-in, nor has a VAD utterance at the start of a stream): the engine pads what
it decodes with silence, and the skills' prompt makes "add" likelier than "and". Real Whisper
tiny.en, as the default asr stage loads it; speech made by eSpeak NG at test time."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from assistant.audio.wav import Audio, read_wav, resample, write_wav
from assistant.messages import Transcript
from assistant.speech.tts_espeak import EspeakSynthesizer
from assistant.speech.whisper import PAD_S, padded
from benchmarks.asr import normalize
from tests.test_asr import Running, utterance

# Requests that begin with a short word Whisper used to lose ("what's on my shopping list" ->
# "on my shopping list") or mishear ("add coffee" -> "and coffee").
REQUESTS = (
    "add coffee to my shopping list",
    "set a timer for five minutes",
    "what's on my shopping list",
    "thank you",
)
VOICES = (("en-us", 200), ("en", 200), ("en-us+m1", 170))


@pytest.fixture(scope="module")
def asr() -> Iterator[Running]:
    running = Running()  # the catalog's defaults: tiny.en, primed with the built-in skills
    yield running
    running.close()


def espeak(text: str, voice: str, wpm: int, tmp_path: pytest.TempPathFactory) -> Audio:
    """The request as `assistant say` writes it and `read_wav` reads it back: speech from the
    first sample."""
    synthesizer = EspeakSynthesizer(voice, words_per_minute=wpm)
    pcm = np.frombuffer(synthesizer.synthesize(text), dtype="<i2")
    path = tmp_path.mktemp("espeak") / "request.wav"
    write_wav(path, pcm.astype(np.int16), synthesizer.sample_rate)
    return read_wav(path)


def test_padding_puts_silence_on_both_sides() -> None:
    samples = np.ones(1600, dtype=np.float32)
    out = padded(samples, PAD_S)
    pad = round(PAD_S * 16_000)
    assert len(out) == 1600 + 2 * pad
    assert not out[:pad].any() and not out[-pad:].any() and out[pad:-pad].all()


@pytest.mark.parametrize(("voice", "wpm"), VOICES)
def test_the_first_word_is_heard(
    asr: Running, voice: str, wpm: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for text in REQUESTS:
        audio = espeak(text, voice, wpm, tmp_path_factory)
        assert np.flatnonzero(audio.samples)[0] < 800  # sound within 50 ms: no lead-in
        (transcript,) = asr.run(utterance(audio))
        assert isinstance(transcript, Transcript)
        heard, said = normalize(transcript.text), normalize(text)
        assert heard[:2] == said[:2], f"{voice}@{wpm}: {text!r} heard as {transcript.text!r}"


def test_a_resampled_request_keeps_its_first_word(
    asr: Running, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """At 8 kHz too (the engine resamples, then pads)."""
    audio = espeak("what's on my shopping list", "en-us", 200, tmp_path_factory)
    at_8k = resample(audio.samples.astype(np.float32), 16_000, 8_000)
    (transcript,) = asr.run(utterance(Audio(at_8k.astype(np.int16), 8_000)))
    assert isinstance(transcript, Transcript)
    assert normalize(transcript.text)[:2] == ["what", "is"], transcript.text
