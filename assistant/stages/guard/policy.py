"""The guard's constitution: a user-editable YAML file of rules, each with a name, the classifier
labels it fires on and how the assistant answers (`assistant/policies/constitution.yaml`).

It is validated with pydantic like the rest of the configuration, so a typo is one line naming
the file and the key. Rules may bring their own example sentences: merged with the labelled
examples shipped in the project, they are what the guard's classifier learns from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.core.config import load_yaml_model
from assistant.core.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parents[2]
DEFAULT_CONSTITUTION = PACKAGE_DIR / "policies" / "constitution.yaml"
DEFAULT_EXAMPLES = PACKAGE_DIR / "safety" / "data" / "guard.yml"
ALLOWED_LABEL = "ok"
"""The label of everything the assistant should simply answer."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    labels: tuple[str, ...] = ()  # empty: the rule's name
    threshold: float = Field(default=0.5, gt=0, le=1)
    examples: tuple[str, ...] = ()


class Rule(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    description: str = ""
    action: Literal["refuse", "support", "calm"]
    match: Match = Match()
    answers: tuple[str, ...] = Field(min_length=1)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.match.labels or (self.name,)

    def score(self, probabilities: Mapping[str, float]) -> float:
        """How likely the utterance is one of the rule's labels."""
        return sum(probabilities.get(label, 0.0) for label in self.labels)


class Constitution(_Strict):
    allowed: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_are_unique(self) -> Constitution:
        names = [rule.name for rule in self.rules]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"rule names must be unique: {', '.join(twice)} appears twice")
        return self


def load_constitution(path: Path) -> Constitution:
    """Read and validate a constitution; every problem is a one-line `ConfigError`."""
    return load_yaml_model(path, Constitution)


def training_examples(
    constitution: Constitution, path: Path, labelled: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """The shipped labelled examples plus the constitution's own: `allowed` teaches the "ok"
    label and each rule's `examples` its first label. A rule whose labels have no examples
    could never fire: that is an error naming the rule."""
    examples = {label: list(texts) for label, texts in labelled.items()}
    examples.setdefault(ALLOWED_LABEL, []).extend(constitution.allowed)
    for rule in constitution.rules:
        examples.setdefault(rule.labels[0], []).extend(rule.match.examples)
    for index, rule in enumerate(constitution.rules):
        for label in rule.labels:
            if label == ALLOWED_LABEL:
                raise ConfigError(
                    f"{path}: rules.{index}.match.labels: {ALLOWED_LABEL!r} is the label of "
                    "what is allowed; a rule cannot fire on it"
                )
            if not examples.get(label):
                known = sorted(set(examples) - {ALLOWED_LABEL})
                raise ConfigError(
                    f"{path}: rules.{index} ({rule.name}): label {label!r} has no examples "
                    f"(give the rule match.examples, or use a known label: {', '.join(known)})"
                )
    return {label: texts for label, texts in examples.items() if texts}
