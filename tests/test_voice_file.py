"""The whole voice pipeline (pipelines/voice.yaml) over audio: two spoken requests separated by
a pause become two turns, each answered in speech, all on the real models."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from assistant.audio.wav import Audio
from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.pipeline import plan_pipeline
from assistant.voice import Timeline, VoiceConversation, VoiceResult, converse_file, file_blocks
from tests.speech import conversation, speak
from tests.test_asr import spoken


def test_a_wav_with_two_requests_gets_two_spoken_answers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    speech = spoken(tmp_path_factory)
    pause = np.zeros(24_000, dtype=np.int16)  # 1.5 s at 16 kHz
    audio = Audio(
        np.concatenate([pause, speech["timer"].samples, pause, speech["weather"].samples, pause])
    )
    path = resolve_pipeline_path("voice")
    plan = plan_pipeline(
        load_pipeline(path),
        path,
        load_models(DEFAULT_MODELS),
        DEFAULT_MODELS,
        {"dst": "tracker-memory"},
    )

    async def scenario() -> VoiceResult:
        async with Pipeline(plan) as pipeline:
            return await converse_file(pipeline, audio)

    result = asyncio.run(scenario())
    records = result.records
    assert [r.turn_id for r in records] == [1, 2]
    assert records[0].parse.intent.name == "set_timer"
    assert "timer" in records[0].text
    assert records[1].transcript is not None and "weather" in records[1].transcript.text.lower()
    assert records[1].text.strip() and not records[1].errors
    speech_out = result.speech()
    assert speech_out is not None and speech_out.sample_rate == 22_050
    assert speech_out.duration > 2.0
    assert np.abs(speech_out.samples.astype(np.int32)).mean() > 100  # not silence


def voice_plan() -> PipelinePlan:
    path = resolve_pipeline_path("voice")
    return plan_pipeline(
        load_pipeline(path), path, load_models(DEFAULT_MODELS), DEFAULT_MODELS,
        {"dst": "tracker-memory"},
    )  # fmt: skip


def test_speaking_during_the_reply_stops_it_and_the_new_request_is_answered() -> None:
    """Barge-in, in real time: the help reply runs for many seconds; the user asks the time
    while it plays. The reply is cut, its turn is marked interrupted, and the time is told."""
    # The help reply takes ~13 s to say; 8 s in, it is playing even on a loaded machine.
    audio = conversation(0.3, "what can you do", 8.0, "what time is it", 3.0)
    barge_in_s = 0.3 + speak("what can you do").duration + 8.0

    async def scenario() -> tuple[VoiceResult, Timeline]:
        async with Pipeline(voice_plan()) as pipeline:
            timeline = Timeline()
            conversation_ = VoiceConversation(pipeline, playback=timeline)
            blocks = file_blocks(audio, realtime=True)
            return await conversation_.run(blocks, realtime=True), timeline

    result, timeline = asyncio.run(scenario())
    first, second = result.records
    assert first.parse is not None and first.parse.intent.name == "help"
    assert first.interrupted and not second.interrupted
    assert second.parse is not None and second.parse.intent.name == "time"
    assert first.first_audio is not None, "the help reply had started playing"
    assert first.to_json()["interrupted"] is True
    # The help reply was playing when the user spoke, and stopped while they spoke (the VAD
    # needs a few hundred ms to be sure it is speech; how soon it stops is measured by
    # benchmarks.voice_latency, not asserted here): silence then until the answer.
    played = timeline.audio()
    assert played is not None
    rate = played.sample_rate
    assert second.first_audio is not None
    answer_at = second.first_audio - timeline.start
    stopped_at = np.flatnonzero(played.samples[: int(answer_at * rate)])[-1] / rate
    assert barge_in_s < stopped_at < barge_in_s + 3.0  # the whole reply would run ~13 s
    assert answer_at - stopped_at > 0.5
    # The time was told in speech after the barge-in.
    assert any(c.turn_id == 2 and c.final for c in result.chunks)


def test_voice_to_voice_latency_is_measured_for_real_time_input() -> None:
    audio = conversation(0.3, "what time is it", 2.5)
    plan = voice_plan()
    (vad,) = [stage for stage in plan.stages if stage.kind == "vad"]
    pause_ms = vad.params.model_dump()["min_silence_ms"]  # every vad backend has one

    async def scenario() -> VoiceResult:
        async with Pipeline(plan) as pipeline:
            conversation_ = VoiceConversation(pipeline, playback=Timeline())
            return await conversation_.run(file_blocks(audio, realtime=True), realtime=True)

    (record,) = asyncio.run(scenario()).records
    latency = record.to_json()["audio"]
    # Whatever the machine's speed, the user waits at least the pause the VAD listens for.
    assert latency["voice_to_voice_ms"] > pause_ms
    assert latency["first_audio_ms"] > 0
    assert latency["voice_to_voice_ms"] > latency["first_audio_ms"]
