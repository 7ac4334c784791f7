"""Issue 15's check, as a user runs it: a request spoken by eSpeak NG (`assistant say`, no
lead-in) is heard right and answered through `assistant voice --input`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.test_voice_cli import run

CATALOG = {
    "extends": "default",
    "tts": {
        "espeak-us-200": {
            "backend": "espeak",
            "params": {"voice": "en-us", "words_per_minute": 200},
        }
    },
}


def test_twelve_times_nine_in_espeak_is_answered_108(assistant_bin: str, tmp_path: Path) -> None:
    catalog = tmp_path / "voices.yaml"
    catalog.write_text(yaml.safe_dump(CATALOG))
    wav = tmp_path / "question.wav"
    said = run(
        assistant_bin, "say", "what is twelve times nine", "--models", str(catalog),
        "--voice", "espeak-us-200", "-o", str(wav),
    )  # fmt: skip
    assert said.returncode == 0, said.stderr
    heard = run(
        assistant_bin, "voice", "--input", str(wav), "--json", "--set", "dst=tracker-memory"
    )
    assert heard.returncode == 0, heard.stderr
    (turn,) = [json.loads(line) for line in heard.stdout.splitlines()]
    assert turn["intent"]["name"] == "calculate", turn["input"]
    assert "108" in turn["text"], (turn["input"], turn["text"])
