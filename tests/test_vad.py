"""Endpointing with the real Silero VAD on Piper speech streamed in 32 ms frames, the endpointing
rules on scripted probabilities, and VAD -> ASR through a real pipeline."""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.audio.wav import Audio, frames
from assistant.config import PipelineSpec
from assistant.core.bus import Envelope
from assistant.core.config import ModelSpec, StageRef
from assistant.core.errors import MissingModelError
from assistant.core.planner import INPUT, PipelinePlan
from assistant.core.runner import Pipeline
from assistant.core.stage import StageContext
from assistant.messages import (
    AudioFrame,
    EndOfStream,
    Message,
    SessionEnd,
    SpeechStarted,
    Transcript,
    TurnEnd,
    TurnStart,
    UtteranceAudio,
)
from assistant.pipeline import plan_pipeline
from assistant.speech.vad import CHUNK, Endpointer, EndpointRules, SileroEndpointer
from assistant.stages import registry
from assistant.stages.asr import whisper_ct2  # noqa: F401  (registers the backend)
from assistant.stages.vad.silero import SileroParams, SileroVAD
from tests.test_asr import SENTENCES, overlap, spoken

RATE = 16_000
sessions = itertools.count(1)


def silence(seconds: float) -> Audio:
    return Audio(np.zeros(int(seconds * RATE), dtype=np.int16))


def join(*parts: Audio) -> Audio:
    return Audio(np.concatenate([p.samples for p in parts]))


class RunningVAD:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.stage = SileroVAD(name="vad", params=SileroParams(), context=StageContext())
        self.loop.run_until_complete(self.stage.start())

    def feed(self, session: str, pcm: bytes) -> list[UtteranceAudio]:
        """One frame; empty bytes stand for the end of the stream."""
        return [m for m in self.feed_all(session, pcm) if isinstance(m, UtteranceAudio)]

    def feed_all(self, session: str, pcm: bytes, turn_id: int = 0) -> list[Message]:
        async def collect(outputs: AsyncIterator[Message]) -> list[Message]:
            return [m async for m in outputs]

        if not pcm:
            return self.loop.run_until_complete(collect(self.stage.end_stream(session)))
        frame = AudioFrame(session_id=session, turn_id=turn_id, pcm=pcm)
        return self.loop.run_until_complete(collect(self.stage.process(frame)))

    def stream(self, audio: Audio, *, end: bool = True) -> list[tuple[int, UtteranceAudio]]:
        """Feed the audio frame by frame; (index of the frame that produced it, utterance)."""
        session = f"s{next(sessions)}"
        blocks = [*frames(audio), b""] if end else list(frames(audio))
        return [(i, u) for i, block in enumerate(blocks) for u in self.feed(session, block)]

    def close(self) -> None:
        self.loop.run_until_complete(self.stage.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Audio]:
    return spoken(tmp_path_factory)


@pytest.fixture(scope="module")
def vad() -> Iterator[RunningVAD]:
    running = RunningVAD()
    yield running
    running.close()


def test_two_utterances_in_a_stream(vad: RunningVAD, speech: dict[str, Audio]) -> None:
    first, second = speech["timer"], speech["weather"]
    stream = join(silence(1.0), first, silence(1.5), second, silence(1.0))
    first_end = 1.0 + first.duration
    second_start = first_end + 1.5

    utterances = [u for _, u in vad.stream(stream)]

    assert [u.turn_id for u in utterances] == [1, 2]
    one, two = utterances
    # Piper puts a little silence around its speech; padding adds 0.2 s each side.
    assert 0.5 <= one.start_s <= 1.2 and first_end - 0.4 <= one.end_s <= first_end + 0.5
    assert second_start - 0.5 <= two.start_s <= second_start + 0.2
    assert second_start + second.duration - 0.4 <= two.end_s <= stream.duration
    assert one.end_s < two.start_s
    for u in utterances:
        assert len(u.pcm) == 2 * round((u.end_s - u.start_s) * RATE)
        assert u.sample_rate == RATE


def test_each_utterance_is_a_turn_between_markers_numbered_by_the_conversation(
    vad: RunningVAD, speech: dict[str, Audio]
) -> None:
    """The frames carry the id the conversation would give its next turn: the VAD begins the
    turn with it when speech starts and ends the turn after the utterance."""
    stream = join(silence(0.5), speech["timer"], silence(1.5))
    out = [m for pcm in [*frames(stream), b""] for m in vad.feed_all("numbered", pcm, 7)]
    kinds = [type(m).__name__ for m in out]
    assert kinds == ["TurnStart", "SpeechStarted", "UtteranceAudio", "TurnEnd"]
    assert {m.turn_id for m in out} == {7}
    start = out[0]
    assert isinstance(start, TurnStart) and start.origin == "vad"
    assert isinstance(out[1], SpeechStarted) and isinstance(out[3], TurnEnd)


def test_pure_silence_yields_nothing(vad: RunningVAD) -> None:
    assert vad.stream(silence(3.0)) == []


def test_trailing_speech_is_emitted_at_end_of_stream(
    vad: RunningVAD, speech: dict[str, Audio]
) -> None:
    stream = join(silence(0.5), speech["timer"])
    last_frame = len(list(frames(stream)))  # the index of the empty end-of-stream frame

    produced = vad.stream(stream)

    assert [i for i, _ in produced] == [last_frame]
    utterance = produced[0][1]
    assert utterance.end_s == pytest.approx(stream.duration, abs=0.01)


def test_without_end_of_stream_trailing_speech_waits(
    vad: RunningVAD, speech: dict[str, Audio]
) -> None:
    assert vad.stream(join(silence(0.5), speech["timer"]), end=False) == []


def test_sessions_are_independent(vad: RunningVAD, speech: dict[str, Audio]) -> None:
    """Interleaved frames of two sessions: each gets its own utterance and turn 1."""
    a = list(frames(join(silence(0.5), speech["timer"], silence(1.0))))
    b = list(frames(join(silence(0.8), speech["weather"], silence(1.0))))
    out: dict[str, list[UtteranceAudio]] = {"a": [], "b": []}
    for block_a, block_b in itertools.zip_longest(a, b, fillvalue=b""):
        out["a"] += vad.feed("a", block_a) if block_a else []
        out["b"] += vad.feed("b", block_b) if block_b else []

    assert [u.turn_id for u in out["a"]] == [1] and [u.turn_id for u in out["b"]] == [1]
    assert out["a"][0].start_s < out["b"][0].start_s


def test_session_end_forgets_pending_speech(vad: RunningVAD, speech: dict[str, Audio]) -> None:
    for block in frames(join(silence(0.5), speech["timer"])):
        vad.feed("gone", block)
    vad.loop.run_until_complete(vad.stage.control(SessionEnd(session_id="gone", turn_id=0)))

    assert vad.feed("gone", b"") == []


def test_wrong_format_is_a_clear_error(vad: RunningVAD) -> None:
    frame = AudioFrame(session_id="x", turn_id=0, pcm=b"\0" * 1024, sample_rate=48_000)

    async def first() -> None:
        async for _ in vad.stage.process(frame):
            pass

    with pytest.raises(ValueError, match="needs 16 kHz mono frames, got 48000 Hz"):
        vad.loop.run_until_complete(first())


def test_missing_faster_whisper_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper.vad", None)  # as if not installed
    stage = SileroVAD(name="vad", params=SileroParams(), context=StageContext())
    with pytest.raises(MissingModelError, match="pip install faster-whisper"):
        stage.load()


# --- the endpointing rules on scripted probabilities ---------------------------------------------


def script(endpointer: Endpointer, probabilities: list[float]) -> list[tuple[float, float]]:
    """One chunk per probability, then end of stream; (start_s, end_s) of each utterance."""
    spans = []
    for p in probabilities:
        spans += endpointer.push(np.zeros(CHUNK, np.int16), p)
    spans += endpointer.finish(np.zeros(0, np.int16))
    return [(s.start / RATE, s.end / RATE) for s in spans]


CHUNK_S = CHUNK / RATE  # 32 ms


def chunks(seconds: float) -> int:
    return round(seconds / CHUNK_S)


def test_rules_padding_and_silence() -> None:
    params = SileroParams(min_silence_ms=600, speech_pad_ms=200)
    probabilities = [0.0] * chunks(1.0) + [0.9] * chunks(1.0) + [0.0] * chunks(1.0)

    ((start, end),) = script(Endpointer(params.rules()), probabilities)

    speech_start, speech_end = chunks(1.0) * CHUNK_S, chunks(2.0) * CHUNK_S
    assert start == pytest.approx(speech_start - 0.2)
    assert end == pytest.approx(speech_end + 0.2)


def test_rules_short_pause_does_not_split() -> None:
    probabilities = [0.9] * chunks(0.5) + [0.0] * chunks(0.4) + [0.9] * chunks(0.5)
    assert len(script(Endpointer(SileroParams(min_silence_ms=600).rules()), probabilities)) == 1


def test_rules_hysteresis_keeps_speech_going() -> None:
    # 0.4 is below the start threshold (0.5) but above the end threshold (0.35).
    probabilities = [0.9] * chunks(0.5) + [0.4] * chunks(2.0) + [0.0] * chunks(1.0)
    ((start, end),) = script(Endpointer(SileroParams(speech_pad_ms=0).rules()), probabilities)
    assert end - start == pytest.approx(chunks(0.5) * CHUNK_S + chunks(2.0) * CHUNK_S)


def test_rules_too_short_is_noise() -> None:
    probabilities = [0.9] * chunks(0.15) + [0.0] * chunks(1.0)
    assert script(Endpointer(SileroParams(min_speech_ms=250).rules()), probabilities) == []


def test_rules_long_speech_is_cut() -> None:
    params = SileroParams(max_utterance_s=2.0, speech_pad_ms=0)
    spans = script(Endpointer(params.rules()), [0.9] * chunks(5.0))
    assert len(spans) == 3
    assert all(end - start <= 2.0 for start, end in spans)
    assert spans[0][1] == spans[1][0]  # back to back: nothing lost, nothing repeated


# --- VAD -> ASR through a real pipeline ----------------------------------------------------------


def test_audio_pipeline_vad_then_asr(speech: dict[str, Audio]) -> None:
    catalog = {
        "vad": {"silero": ModelSpec(backend="silero")},
        "asr": {"tiny-en": ModelSpec(backend="faster-whisper")},
    }
    spec = PipelineSpec(
        input="audio",
        stages=[StageRef(kind="vad", model="silero"), StageRef(kind="asr", model="tiny-en")],
        skills=[],
    )
    assert registry.get("vad", "silero") is not None
    plan = plan_pipeline(spec, Path("voice.yaml"), catalog, Path("models.yaml"))
    stream = join(silence(0.5), speech["timer"], silence(1.5), speech["weather"], silence(0.3))

    transcripts = asyncio.run(run_audio(plan, stream))

    assert [t.turn_id for t in transcripts] == [1, 2]
    assert overlap(SENTENCES["timer"], transcripts[0].text) >= 0.8, transcripts[0].text
    assert overlap(SENTENCES["weather"], transcripts[1].text) >= 0.8, transcripts[1].text


async def run_audio(plan: PipelinePlan, audio: Audio) -> list[Transcript]:
    seen: list[Envelope] = []
    async with Pipeline(plan) as pipeline:
        pipeline.bus.observe(lambda message, sender: seen.append(Envelope(message, sender)))
        for block in frames(audio):
            await pipeline.bus.publish(AudioFrame(session_id="p", turn_id=0, pcm=block), INPUT)
        await pipeline.bus.publish(EndOfStream(session_id="p", turn_id=0), INPUT)
        await pipeline.bus.join()
    return [e.message for e in seen if isinstance(e.message, Transcript)]


class ScriptedModel:
    """Stands in for the ONNX session: returns the next scripted probability per chunk, so the
    endpointer's events can be checked on exact timings."""

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = iter(probabilities)

    def run(self, _outputs: object, inputs: dict[str, np.ndarray]) -> tuple[object, ...]:
        return np.array([[next(self.probabilities)]]), inputs["h"], inputs["c"]


def events_of(probabilities: list[float]) -> list[str]:
    endpointer = SileroEndpointer(ScriptedModel(probabilities), EndpointRules())
    silence = bytes(2 * CHUNK * len(probabilities))
    return [type(e).__name__ for e in [*endpointer.feed(silence), *endpointer.finish()]]


def test_events_speech_then_utterance() -> None:
    assert events_of([0.9] * chunks(1.0) + [0.0] * chunks(1.0)) == ["SpeechStart", "Utterance"]


@pytest.mark.parametrize("speech_s", [0.064, 0.16])
def test_events_a_click_is_not_announced_as_speech(speech_s: float) -> None:
    # Time since it began is no measure: the speech itself must last min_speech_ms (250 ms)
    # before a barge-in may stop a reply.
    assert events_of([0.9] * chunks(speech_s) + [0.0] * chunks(1.0)) == []


def test_events_speech_is_announced_once_it_has_lasted_min_speech() -> None:
    endpointer = SileroEndpointer(ScriptedModel([0.9] * 20), EndpointRules(min_speech_ms=250))
    announced = [
        bool(endpointer.feed(bytes(2 * CHUNK))) for _ in range(20)
    ]  # one chunk (32 ms) at a time
    assert announced.index(True) == chunks(0.25) - 1 and announced.count(True) == 1
