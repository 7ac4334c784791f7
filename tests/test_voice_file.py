"""The whole voice pipeline (pipelines/voice.yaml) over audio: two spoken requests separated by
a pause become two turns, each answered in speech, all on the real models."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from assistant.audio.wav import Audio
from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.pipeline import Pipeline, plan_pipeline
from assistant.voice import converse_file
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

    async def scenario() -> object:
        async with Pipeline(plan) as pipeline:
            return await converse_file(pipeline, audio)

    result = asyncio.run(scenario())
    records = result.records  # type: ignore[attr-defined]
    assert [r.turn_id for r in records] == [1, 2]
    assert records[0].parse.intent.name == "set_timer"
    assert "timer" in records[0].text
    assert records[1].transcript is not None and "weather" in records[1].transcript.text.lower()
    assert records[1].text.strip() and not records[1].errors
    speech_out = result.speech  # type: ignore[attr-defined]
    assert speech_out is not None and speech_out.sample_rate == 22_050
    assert speech_out.duration > 2.0
    assert np.abs(speech_out.samples.astype(np.int32)).mean() > 100  # not silence
