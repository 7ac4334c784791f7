"""Issue 15's check, as a user runs it: a request spoken by eSpeak NG (`assistant say`, no
lead-in) is heard right and answered through `assistant voice --input`. eSpeak's voice is heard
with less confidence than a person's or Piper's, so the assistant may first ask "Did you say
what is 12 times 9?": the recording then goes on with the user's "yes", as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from assistant.audio.wav import read_wav, write_wav
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


def espeak(assistant_bin: str, text: str, catalog: Path, wav: Path) -> np.ndarray:
    said = run(
        assistant_bin, "say", text, "--models", str(catalog), "--voice", "espeak-us-200",
        "-o", str(wav),
    )  # fmt: skip
    assert said.returncode == 0, said.stderr
    return read_wav(wav).samples


def test_twelve_times_nine_in_espeak_is_answered_108(assistant_bin: str, tmp_path: Path) -> None:
    catalog = tmp_path / "voices.yaml"
    catalog.write_text(yaml.safe_dump(CATALOG))
    question = espeak(assistant_bin, "what is twelve times nine", catalog, tmp_path / "q.wav")
    yes = espeak(assistant_bin, "yes", catalog, tmp_path / "yes.wav")
    pause = np.zeros(16000 * 2, dtype=np.int16)  # the reply is spoken in between
    wav = tmp_path / "question.wav"
    write_wav(wav, np.concatenate([question, pause, yes, pause]), 16000)
    heard = run(
        assistant_bin, "voice", "--input", str(wav), "--json", "--set", "dst=tracker-memory"
    )
    assert heard.returncode == 0, heard.stderr
    turns = [json.loads(line) for line in heard.stdout.splitlines()]
    assert turns[0]["intent"]["name"] == "calculate", turns[0]["input"]
    answered = next((t for t in turns if "108" in t["text"]), None)
    assert answered is not None, [(t["input"], t["text"]) for t in turns]
    if answered is not turns[0]:  # asked first: "Did you say what is 12 times 9?" ... "yes"
        assert turns[0]["text"].startswith("Did you say what is 12 times 9"), turns[0]["text"]
