"""The voice commands as a user runs them, without a sound card: `assistant voice` over WAV files,
`transcribe`, `say` and `models`, on the real models; audio is made by Piper at test time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from assistant.audio.devices import NoAudioDevice, check_input_device
from assistant.audio.wav import read_wav, write_wav
from tests.conftest import ROOT
from tests.speech import conversation, speak


def run(assistant_bin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [assistant_bin, *args], capture_output=True, text=True, timeout=600, cwd=ROOT
    )


@pytest.fixture(scope="module")
def two_requests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("voice") / "two.wav"
    audio = conversation(0.5, "set a timer for ten minutes", 1.5, "what time is it", 1.0)
    write_wav(path, audio.samples, audio.sample_rate)
    return path


def test_voice_without_a_microphone_says_so_in_one_line(assistant_bin: str) -> None:
    try:
        check_input_device()
        pytest.skip("this machine has a microphone")
    except NoAudioDevice:
        pass
    result = run(assistant_bin, "voice")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "microphone" in lines[0] and "--input FILE.wav" in lines[0]


def test_voice_over_files_answers_every_request_in_speech(
    assistant_bin: str, two_requests: Path, tmp_path: Path
) -> None:
    out = tmp_path / "replies.wav"
    result = run(
        assistant_bin, "voice", "--input", str(two_requests), "--output", str(out), "--json",
        "--set", "dst=tracker-memory",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert [t["turn"] for t in turns] == [1, 2]
    assert [t["intent"]["name"] for t in turns] == ["set_timer", "time"]
    assert "timer" in turns[0]["transcript"]["text"].lower()
    assert turns[0]["transcript"]["confidence"] > 0.5
    assert turns[0]["entities"][0]["value"] == 600  # "ten minutes", heard and normalized
    assert all(t["audio"]["first_audio_ms"] > 0 for t in turns)
    replies = read_wav(out)
    assert replies.duration > 2.0
    assert np.abs(replies.samples.astype(np.int32)).mean() > 100


def test_voice_over_files_imports_neither_torch_nor_transformers(
    two_requests: Path, tmp_path: Path
) -> None:
    # The voice path runs on ONNX Runtime, CTranslate2 and llama.cpp; torch would add hundreds
    # of MB to its memory and seconds to its start.
    argv = ["voice", "--input", str(two_requests), "--output", str(tmp_path / "out.wav")]
    code = (
        "import sys\n"
        "from assistant.cli import main\n"
        f"assert main({[*argv, '--set', 'dst=tracker-memory']!r}) == 0\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "you> " in done.stdout  # the requests were heard and answered
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_voice_with_an_unreadable_file_fails_before_loading_anything(
    assistant_bin: str, tmp_path: Path
) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    result = run(assistant_bin, "voice", "--input", str(bad))
    assert result.returncode == 1
    assert "not a WAV file" in result.stderr and "Traceback" not in result.stderr
    assert "Loading" not in result.stderr


def test_transcribe_goes_on_past_a_bad_file(assistant_bin: str, tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    audio = speak("what is the weather like today")
    write_wav(good, audio.samples, audio.sample_rate)
    result = run(assistant_bin, "transcribe", str(good), str(tmp_path / "missing.wav"), "--json")
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    data = json.loads(line)
    # Piper varies its timing from run to run, so Whisper may mishear a word ("light").
    said = ["what", "is", "the", "weather", "like", "today"]
    heard = set(data["text"].lower().rstrip(".?").split())
    assert sum(word in heard for word in said) >= len(said) - 1, data["text"]
    assert data["language"] == "en" and data["duration_s"] > 1
    assert "missing.wav: no such file" in result.stderr


def test_say_writes_speech_and_rejects_empty_text(assistant_bin: str, tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    for voice in ("piper-joe", "espeak"):
        result = run(assistant_bin, "say", "Hello there. How are you?", "-o", str(out),
                     "--voice", voice)  # fmt: skip
        assert result.returncode == 0, result.stderr
        speech = read_wav(out)
        assert 0.8 < speech.duration < 6
    empty = run(assistant_bin, "say", "  ", "-o", str(out))
    assert empty.returncode == 2 and "the text is empty" in empty.stderr


def test_models_lists_every_catalog_model_with_its_state(assistant_bin: str) -> None:
    result = run(assistant_bin, "models")
    assert result.returncode == 0, result.stderr
    catalog = yaml.safe_load((ROOT / "models.yaml").read_text())
    names = {name for kind, models in catalog.items() if kind != "extends" for name in models}
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    assert names <= listed
    for line in result.stdout.splitlines():
        if line.startswith("  ") and line.split()[0] in names:
            assert "ready" in line or "NOT READY" in line


def test_models_prepare_converts_whisper_for_openai_whisper_once(
    assistant_bin: str, two_requests: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def run_env(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [assistant_bin, *args], capture_output=True, text=True, timeout=600, env=env
        )

    before = run_env("models")
    assert "openai-whisper-tiny-en" in before.stdout and "NOT READY" in before.stdout
    prepared = run_env("models", "prepare", "openai-whisper-tiny-en")
    assert prepared.returncode == 0, prepared.stderr
    assert "asr/openai-whisper-tiny-en: prepared" in prepared.stdout
    assert "converting Whisper tiny.en" in prepared.stderr  # the progress bar
    again = run_env("models", "prepare", "openai-whisper-tiny-en")
    assert "ready, nothing to prepare" in again.stdout
    heard = run_env("transcribe", str(two_requests), "--model", "openai-whisper-tiny-en")
    assert heard.returncode == 0, heard.stderr
    assert "timer" in heard.stdout.lower() and "time is it" in heard.stdout.lower()
    unknown = run_env("models", "prepare", "whisper-huge")
    assert unknown.returncode == 2 and "no model 'whisper-huge'" in unknown.stderr
