"""Small talk answered by a language model through the whole text pipeline (`assistant chat`):
the shipped Gemma by default, and a user's own transformers model plugged in through the catalog
(a tiny random one the test builds: it checks the wiring, not the words)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.test_generation import build_tiny_lm


def chat_json(assistant_bin: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [assistant_bin, "chat", "--set", "dst=tracker-memory", "--json", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    data: dict[str, Any] = json.loads(line)
    return data


def test_small_talk_goes_to_gemma(assistant_bin: str) -> None:
    turn = chat_json(assistant_bin, "--once", "how was your weekend")
    assert turn["intent"]["name"] == "chitchat"
    assert turn["source"] == "generation"
    text = str(turn["text"])
    assert 2 <= len(text.split()) <= 60, text  # capped for speech
    assert not turn["errors"]


def test_a_transformers_model_from_the_catalog_answers_small_talk(
    assistant_bin: str, tmp_path: Path
) -> None:
    # Random weights say random things. With only words to say (no newline, no "User:") and an
    # end-of-text token, what it says before it stops is a reply the chain can use.
    model = build_tiny_lm(tmp_path / "lm", ["Fine good nice day yes sure"] * 5, can_end=True)
    catalog = tmp_path / "models.yaml"
    catalog.write_text(
        "extends: default\n"
        "respond:\n"
        "  my-model:\n"
        "    backend: chain\n"
        "    params:\n"
        f"      generation: {{runtime: transformers, model_path: {model}, "
        "max_tokens: 40, seed: 0}\n"
    )
    turn = chat_json(
        assistant_bin, "--models", str(catalog), "--set", "respond=my-model",
        "--once", "how was your weekend",
    )  # fmt: skip
    assert turn["source"] == "generation"
    assert str(turn["text"]).strip()  # random weights: some words, never an empty reply
    assert not turn["errors"]
