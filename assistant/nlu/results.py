"""What intent detection finds in an utterance: intent scores and entities (plain data)."""

from __future__ import annotations

from collections.abc import Sequence
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


def entities_to_json(entities: Sequence[Entity]) -> tuple[dict[str, object], ...]:
    """Rasa's entity dicts; `role` and `group` only when the entity has them, as in Rasa."""
    return tuple(
        {
            "entity": e.entity,
            "value": e.value,
            "text": e.text,
            "start": e.start,
            "end": e.end,
            "extractor": e.extractor,
            **({"role": e.role} if e.role is not None else {}),
            **({"group": e.group} if e.group is not None else {}),
        }
        for e in entities
    )
