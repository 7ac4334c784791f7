"""The speech engines used as plain libraries: no bus, no stage, no messages. Speech is made at
test time with Piper (tests/speech.py writes it to a WAV and reads it back)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.speech.asr_ct2 import FasterWhisperEngine
from assistant.speech.asr_openai import OpenAIWhisperEngine
from assistant.speech.tts import Delivery, Synthesizer
from assistant.speech.tts_espeak import EspeakSynthesizer
from assistant.speech.tts_piper import PiperSynthesizer
from assistant.speech.vad import SAMPLE_RATE, Event, SileroEndpointer, SpeechStart, Utterance
from assistant.speech.whisper import Recognized, WhisperEngine
from assistant.weights import tiny_en
from assistant.weights.ct2_to_openai import openai_checkpoint
from tests.speech import conversation, speak
from tests.test_asr import overlap

TIMER = "set a timer for ten minutes"
RMS_FLOOR = 300.0  # int16 RMS; speech from both synthesizers measures ~2500-4000


def rms(pcm: bytes) -> float:
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(audio**2)))


def test_silero_endpointer_finds_the_utterance() -> None:
    lead_in = 1.0
    audio = conversation(lead_in, TIMER, 1.5)
    speech_s = speak(TIMER).duration
    endpointer = SileroEndpointer()
    events: list[Event] = []
    pcm = audio.pcm
    for at in range(0, len(pcm), 1000):  # blocks that are not whole model windows
        events += endpointer.feed(pcm[at : at + 1000])
    events += endpointer.finish()

    start, utterance = events
    assert isinstance(start, SpeechStart) and isinstance(utterance, Utterance)
    # Piper's clip has a little silence of its own around the words.
    assert lead_in - 0.1 < start.at_s < lead_in + 0.5
    assert utterance.start_s < start.at_s < utterance.speech_end_s < utterance.end_s
    assert utterance.speech_end_s == pytest.approx(lead_in + speech_s, abs=0.4)
    seconds = len(utterance.pcm) / 2 / SAMPLE_RATE
    assert seconds == pytest.approx(utterance.end_s - utterance.start_s)
    # A new stream starts at 0 s: silence alone is no utterance.
    assert endpointer.feed(conversation(2.0).pcm) == [] and endpointer.finish() == []


def check_transcribes(engine: WhisperEngine) -> None:
    audio = speak(TIMER)
    heard = engine.transcribe(audio.pcm, audio.sample_rate)
    assert overlap(TIMER, heard.text) >= 0.8, heard.text
    assert heard.language == "en" and 0 < heard.confidence <= 1
    assert engine.transcribe(b"") == Recognized("", "en", 0.0)


def test_ct2_whisper_transcribes_speech(tmp_path_factory: pytest.TempPathFactory) -> None:
    model_dir = tiny_en(tmp_path_factory.mktemp("cache"))  # shipped whole: nothing is built
    check_transcribes(FasterWhisperEngine(model_dir))


def test_openai_whisper_transcribes_speech(tmp_path_factory: pytest.TempPathFactory) -> None:
    checkpoint = openai_checkpoint("tiny.en", tmp_path_factory.mktemp("cache"))
    check_transcribes(OpenAIWhisperEngine(checkpoint))


def check_speaks(synthesizer: Synthesizer) -> None:
    pause_ms = 300
    spoken = list(synthesizer.speak("Hello there. Your timer is set.", Delivery(1.0, pause_ms)))
    assert [s.text for s in spoken] == ["Hello there.", "Your timer is set."]
    assert [s.last for s in spoken] == [False, True]
    assert all(s.sample_rate == synthesizer.sample_rate == 22_050 for s in spoken)
    assert all(rms(s.pcm) > RMS_FLOOR for s in spoken)
    pause = bytes(2 * synthesizer.sample_rate * pause_ms // 1000)
    assert spoken[0].pcm.endswith(pause)
    assert list(synthesizer.speak("  ")) == []


def test_espeak_synthesizes_speech() -> None:
    check_speaks(EspeakSynthesizer())


def test_piper_synthesizes_speech() -> None:
    check_speaks(PiperSynthesizer.load())
