"""What intent detection finds in an utterance: intent scores and entities (plain data)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Entity:
    """A value found in the user's text; `start`/`end` are character offsets into that text."""

    entity: str
    value: object
    text: str
    start: int
    end: int
    extractor: str = ""
    role: str | None = None  # Rasa's entity roles and groups, as the training data annotates
    group: str | None = None
