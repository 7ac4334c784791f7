"""Held-out intent accuracy: how many paraphrases, never trained on, an intent model gets right.

The same measure as the NLU benchmark's intent accuracy (`python -m benchmarks.nlu`), written
again here because the library does not import `benchmarks`: every line of a Rasa `nlu.yml`
file is classified once (out_of_scope decisions included) and compared with its intent. Lines
that are also training examples measure memory, not generalisation, and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from assistant.nlu.results import IntentScore
from assistant.skills.loader import Example, parse_example


def _default_heldout() -> Path:
    """The benchmark's held-out set: the copy a wheel bundles (pyproject's force-include), or
    the file in a development checkout's benchmarks/data."""
    package = Path(__file__).resolve().parents[1]
    bundled = package / "defaults" / "nlu_heldout.yml"
    return bundled if bundled.is_file() else package.parent / "benchmarks/data/nlu_heldout.yml"


DEFAULT_HELDOUT = _default_heldout()


class IntentModel(Protocol):
    """What evaluation and learning need of an intent model: the nlu stages have it."""

    def classify(self, text: str) -> tuple[IntentScore, tuple[IntentScore, ...]]: ...


class HeldoutError(ValueError):
    """The held-out file is missing or not Rasa nlu.yml; the message says which and what to do."""


@dataclass(frozen=True)
class Miss:
    text: str
    gold: str
    predicted: str


@dataclass(frozen=True)
class Accuracy:
    correct: int
    total: int
    misses: tuple[Miss, ...] = ()

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.accuracy:.4f} ({self.correct}/{self.total})"


def normalize_text(text: str) -> str:
    """What counts as the same sentence: case, punctuation and spacing do not."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def read_examples(path: Path) -> list[Example]:
    """The `- intent:` blocks of a Rasa nlu.yml file, entity annotations parsed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise HeldoutError(
            f"{path}: no held-out set there; give the path of an nlu.yml of examples never "
            "trained on (the project's is benchmarks/data/nlu_heldout.yml)"
        ) from None
    except yaml.YAMLError as exc:
        raise HeldoutError(f"{path}: invalid YAML ({exc})") from None
    examples: list[Example] = []
    entries = data.get("nlu") if isinstance(data, dict) else None
    for index, entry in enumerate(entries or []):
        if not isinstance(entry, dict) or "intent" not in entry:
            continue  # regex, lookup and synonym entries hold no examples
        for raw in str(entry.get("examples") or "").splitlines():
            line = raw.strip()
            if not line:
                continue
            if not line.startswith("- "):
                raise HeldoutError(f"{path}: nlu[{index}]: {line!r} must start with '- '")
            examples.append(parse_example(line[2:].strip(), str(entry["intent"])))
    if not examples:
        raise HeldoutError(f"{path}: no '- intent:' examples in it")
    return examples


def unseen(examples: Iterable[Example], *training: Iterable[Example]) -> list[Example]:
    """The examples whose text is in none of the training sets."""
    trained = {normalize_text(e.text) for examples_ in training for e in examples_}
    return [e for e in examples if normalize_text(e.text) not in trained]


def evaluate(model: IntentModel, examples: Sequence[Example]) -> Accuracy:
    """Intent accuracy of `model` on `examples` (the top intent after the out-of-scope test)."""
    misses = []
    for example in examples:
        predicted = model.classify(example.text)[0].name
        if predicted != example.intent:
            misses.append(Miss(example.text, example.intent, predicted))
    return Accuracy(len(examples) - len(misses), len(examples), tuple(misses))
