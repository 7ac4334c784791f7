"""The Pipecat peer of the voice benchmark (benchmarks/pipecat_voice.py) on one real request:
Pipecat's own Silero VAD, Smart Turn v3, Whisper STT and Piper TTS, each from a file on this
machine, with our text pipeline in the middle. Needs the `bench` extra (pipecat-ai with its
dependencies), which `make test` installs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from benchmarks import pipecat_voice
from benchmarks.audio_set import PIPER_VOICES, conversation, generate

pytestmark = pytest.mark.slow


def test_every_pipecat_piece_runs_offline_and_answers_a_spoken_request(tmp_path: Path) -> None:
    clips = asyncio.run(generate(["What is 17 times 23?"], PIPER_VOICES[1:2], tmp_path))
    talk = conversation(clips, pause_s=1.0)
    result = asyncio.run(pipecat_voice.measure(talk, [], {"dst": "tracker-memory"}))
    assert all(status.startswith("ran offline") for status in result["pieces"].values()), result
    assert result["errors"] == []
    (turn,) = result["warmup_turns"]
    assert turn["request"] == "What is 17 times 23?"
    assert "17" in turn["heard"] and "23" in turn["heard"]
    assert "391" in turn["reply"]
    # The reply was spoken, after the request ended and after the turn was released.
    assert turn["from_true_end_ms"] > turn["to_endpoint_ms"] > 0
