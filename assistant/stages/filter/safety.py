"""The response filter: what the assistant says is checked before anyone reads or hears it.

Listed swear words and slurs are masked ("s***"), sentences the toxicity classifier flags are
replaced by a neutral sentence, and personal data of the configured kinds (card numbers,
government ids, e-mail addresses, phone numbers) becomes a spoken label ("[card number]").
Every change is added to `Reply.changes`, which `--json` prints as `filter`.

Spans: each `TextChange`'s start/end refer to the reply text as this stage received it. Both
checks look at that same text and their changes are applied once, together; personal data
inside a replaced sentence goes with the sentence, so changes never overlap.

A reply that comes in pieces (sentence by sentence; see `assistant.stages.said`) is checked piece by
piece, each change spanning the piece it was found in; a piece is whole sentences, so nothing is
missed at a piece boundary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from pydantic import Field, field_validator

from assistant.core.stage import Progress, StageContext, StageParams
from assistant.messages import Message, Refusal, Reply, Said, TextChange
from assistant.nlu.embedder import prepare_encoder
from assistant.records import changes_json, said_of
from assistant.safety import apply_changes, without_overlaps
from assistant.safety.pii import (
    DEFAULT_PII_ENTITIES,
    DEFAULT_SCORE_THRESHOLD,
    SUPPORTED_PII_ENTITIES,
    PiiRedactor,
    prefetch_analyzer,
    settle_analyzers,
    shared_pii_redactor,
)
from assistant.safety.toxicity import (
    DEFAULT_REPLACEMENT,
    DEFAULT_THRESHOLD,
    ProfanityList,
    ToxicityClassifier,
    ToxicityFilter,
)
from assistant.stages.said import Piece, SaidStage


class SafetyFilterParams(StageParams):
    pii_entities: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PII_ENTITIES),
        description=(
            "Presidio entity types to redact; [] turns redaction off. Supported: "
            + ", ".join(sorted(SUPPORTED_PII_ENTITIES))
        ),
    )
    pii_threshold: float = Field(
        DEFAULT_SCORE_THRESHOLD, ge=0, le=1, description="Presidio's minimum confidence"
    )
    pii_replacements: dict[str, str] = Field(
        default_factory=dict,
        description="what an entity type is replaced with, e.g. {CREDIT_CARD: '[card]'}",
    )
    profanity: bool = Field(True, description="mask listed swear words and slurs")
    toxicity_threshold: float | None = Field(
        DEFAULT_THRESHOLD,
        gt=0,
        le=1,
        description="replace a sentence whose probability of being an insult or hate reaches "
        "this; null: no classifier (the sentence-embedding model is then not loaded)",
    )
    replacement_sentence: str = Field(
        DEFAULT_REPLACEMENT, min_length=1, description="what a flagged sentence becomes"
    )

    @field_validator("pii_entities")
    @classmethod
    def _known_entities(cls, entities: list[str]) -> list[str]:
        unknown = sorted(set(entities) - SUPPORTED_PII_ENTITIES)
        if unknown:
            raise ValueError(
                f"unknown entity {', '.join(unknown)} "
                f"(expected some of: {', '.join(sorted(SUPPORTED_PII_ENTITIES))})"
            )
        return entities

    @field_validator("pii_replacements")
    @classmethod
    def _spoken_replacements(cls, replacements: dict[str, str]) -> dict[str, str]:
        for entity, text in replacements.items():
            if entity not in SUPPORTED_PII_ENTITIES:
                raise ValueError(f"unknown entity {entity}")
            if not text.strip():
                raise ValueError(f"{entity}: a replacement must say something")
        return replacements


class SafetyFilter(SaidStage[None]):
    kind: ClassVar[str] = "filter"
    backend: ClassVar[str] = "safety"
    description: ClassVar[str] = (
        "masks profanity, replaces insults and hate (MiniLM classifier), redacts personal data "
        "(Presidio + spaCy)"
    )
    produces = (Reply, Refusal)
    Params: ClassVar[type[StageParams]] = SafetyFilterParams
    params: SafetyFilterParams

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        said = said_of(produced)
        return {"filter": changes_json("reply", said.changes if said else ())}

    @classmethod
    def prepare(cls, params: StageParams, context: StageContext, progress: Progress) -> bool:
        assert isinstance(params, SafetyFilterParams)
        return params.toxicity_threshold is not None and prepare_encoder()

    def prefetch(self) -> None:
        prefetch_analyzer(self.params.pii_entities)

    async def settle(self) -> None:
        await asyncio.to_thread(settle_analyzers)

    def load(self) -> None:
        params = self.params
        threshold = params.toxicity_threshold
        self.toxicity = ToxicityFilter(
            ProfanityList() if params.profanity else None,
            ToxicityClassifier() if threshold is not None else None,
            threshold or 1.0,
            params.replacement_sentence,
        )
        self.pii: PiiRedactor | None = (
            shared_pii_redactor(tuple(params.pii_entities), params.pii_threshold)
            if params.pii_entities
            else None
        )

    def check(self, text: str) -> tuple[TextChange, ...]:
        """The changes `text` needs, by span of `text` (blocking: worker thread)."""
        changes = list(self.toxicity.find(text))
        if self.pii is not None:
            replacements = self.params.pii_replacements
            found = [
                replace(c, replacement=replacements.get(c.rule.removeprefix("pii:"), c.replacement))
                for c in self.pii.find(text)
            ]
            # A replaced sentence takes its personal data with it; a card number is never a
            # swear word, but should a mask and a redaction meet, the redaction wins.
            sentences = [c for c in changes if c.rule.startswith("toxicity:")]
            found = without_overlaps(sentences, found)
            changes = without_overlaps(found, changes) + found
        return tuple(sorted(changes, key=lambda c: c.start))

    async def say(self, message: Said, state: None, piece: Piece) -> AsyncIterator[Message]:
        # Each piece is whole sentences: checked on its own, nothing is missed at a boundary.
        if not message.text.strip():
            yield message  # the empty last piece of a reply: nothing to check
            return
        changes = await self.run_blocking(self.check, message.text)
        if not changes:
            yield message
            return
        text = apply_changes(message.text, changes)
        yield replace(message, text=text, changes=message.changes + changes)
