"""Shared machinery of the trained intent classifiers: train on the skills' `nlu.yml` examples,
rank intents for an utterance, and decide when it is out of scope.

A backend supplies only its features (sentence embeddings, character n-grams, ...); training,
ranking, the out-of-scope decision and the `Parse` message are the same for all of them.

Out of scope is decided mainly by distance: an utterance whose nearest training example is less
similar than `similarity_threshold` is not something the skills were trained for, however
confident the classifier is (a softmax always picks some intent).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from assistant.core.stage import Stage, StageParams
from assistant.messages import Entity, IntentScore, Message, Parse, Transcript
from assistant.nlu.entities import EntityExtractor
from assistant.nlu.fitted import LinearClassifier, fit_key, remembered
from assistant.nlu.nearest import NearestExample
from assistant.nlu.payload import PayloadError, parse_payload
from assistant.records import last_of, parse_json
from assistant.skills.loader import Example, SkillSet, load_skills

log = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"
INAUDIBLE = "inaudible"
CORRECTION, MEANT = "correction", "meant"  # "no, I meant [add milk](meant)"
"""The intent of an empty utterance: speech recognition heard noise, not words. The skills answer
it with `utter_inaudible` ("sorry, I didn't catch that") rather than an error."""


class ClassifierParams(StageParams):
    similarity_threshold: float = Field(
        0.4,
        ge=-1,
        le=1,
        description="cosine similarity to the nearest training example below "
        "which the utterance is out of scope",
    )
    min_confidence: float = Field(
        0.3, ge=0, le=1, description="top-intent probability below which it is out of scope"
    )
    ranking_length: int = Field(5, ge=1, description="how many intents the ranking keeps")
    regularization: float = Field(10.0, gt=0, description="inverse L2 strength (sklearn's C)")


class IntentClassifierStage(Stage):
    kind: ClassVar[str] = "nlu"
    consumes = (Transcript,)
    produces = (Parse,)
    Params: ClassVar[type[StageParams]] = ClassifierParams
    params: ClassifierParams

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        parse = last_of(Parse, produced)
        return parse_json(parse) if parse is not None else {}

    @abstractmethod
    def fit_features(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Learn the feature space from the training texts; what must be kept of it (arrays)."""

    @abstractmethod
    def restore_features(self, arrays: dict[str, np.ndarray]) -> None:
        """Take back a feature space that `fit_features` learnt (from the cache)."""

    @abstractmethod
    def features(self, texts: Sequence[str], *, training: bool = False) -> np.ndarray:
        """Features of texts (one row each) in the learnt space; `training`: they are the
        training examples, which come back at every start."""

    def fit_identity(self) -> list[object]:
        """What the features depend on besides the examples (settings, models) for the cache
        key of a fitted classifier."""
        return []

    def is_out_of_scope(self, nearest: float, top_probability: float) -> bool:
        return (
            nearest < self.params.similarity_threshold
            or top_probability < self.params.min_confidence
        )

    def fit_intents(self, examples: Sequence[Example], *, remember: bool = True) -> None:
        """Train the intent classifier (not the entities) on these examples; `load` trains it on
        all of the skills', a cross-validation on a part of them. What was fitted is kept in
        the cache for the next start unless `remember` is false."""
        texts = [e.text for e in examples]
        intents = [e.intent for e in examples]

        def fit() -> dict[str, np.ndarray]:
            arrays = self.fit_features(texts)
            features = self.features(texts, training=True)
            model = LinearClassifier.fit(
                features, intents, regularization=self.params.regularization
            )
            return {**arrays, **model.arrays("intents_")}

        if remember:
            identity = [self.backend, self.fit_identity(), list(zip(texts, intents, strict=True))]
            key = fit_key("intents", identity, self.params.regularization)
            arrays = remembered("intents", key, fit)
        else:
            arrays = fit()
        self.restore_features(arrays)
        self.classifier = LinearClassifier.from_arrays(arrays, "intents_")
        self.labels: list[str] = self.classifier.classes
        self.nearest_example = NearestExample(self.features(texts, training=True))

    def load(self) -> None:
        self.skills: SkillSet = load_skills(self.context.skill_dirs)
        examples = self.skills.examples
        intents = {e.intent for e in examples}
        if len(intents) < 2:
            raise ValueError(
                f"intent detection needs examples of at least two intents; the skills "
                f"({', '.join(str(p) for p in self.context.skill_dirs)}) have {len(intents)}"
            )
        self.fit_intents(examples)
        # Entities are learnt from the same examples' [value](entity) annotations.
        self.entity_extractor = EntityExtractor()
        self.entity_extractor.train(
            examples, self.skills.regexes, self.skills.lookups, self.skills.synonyms
        )
        log.debug(
            "nlu %s: trained on %d examples of %d intents",
            self.name,
            len(examples),
            len(self.labels),
        )

    def scores(self, text: str) -> tuple[np.ndarray, float]:
        """The classifier's probability of each intent (in `self.labels` order) and the cosine
        similarity of the nearest training example: all that the intent decision reads, so a
        benchmark can try other thresholds without parsing again."""
        if not text.strip():
            raise ValueError("the utterance is empty")
        features = self.features([text])
        probabilities = self.classifier.predict_proba(features)[0]
        nearest = self.nearest_example.similarity(features[0])
        return probabilities, nearest

    def decide(
        self, probabilities: np.ndarray, nearest: float
    ) -> tuple[IntentScore, tuple[IntentScore, ...]]:
        order = np.argsort(probabilities)[::-1][: self.params.ranking_length]
        ranking = tuple(
            IntentScore(name=self.labels[i], confidence=round(float(probabilities[i]), 4))
            for i in order
        )
        top = ranking[0]
        if self.is_out_of_scope(nearest, top.confidence):
            return IntentScore(name=OUT_OF_SCOPE, confidence=round(1 - top.confidence, 4)), ranking
        return top, ranking

    def classify(self, text: str) -> tuple[IntentScore, tuple[IntentScore, ...]]:
        return self.decide(*self.scores(text))

    def understand(
        self, text: str
    ) -> tuple[IntentScore, tuple[IntentScore, ...], tuple[Entity, ...]]:
        intent, ranking = self.classify(text)
        return intent, ranking, self.entity_extractor.extract(text, intent.name)

    def parse(self, transcript: Transcript) -> Parse:
        """The utterance understood, and when it corrects the one before ("no, I meant add
        milk"), what was meant understood instead: the turn does what the user meant."""
        parse = Parse(
            session_id=transcript.session_id,
            turn_id=transcript.turn_id,
            text=transcript.text,
            intent=IntentScore(name=INAUDIBLE, confidence=1.0),
            asr_confidence=transcript.confidence,
        )
        if not transcript.text.strip():
            return parse
        payload = self.payload(transcript.text)
        if payload is not None:  # a button's payload names its intent: no classifier
            return replace(parse, intent=payload[0], ranking=(payload[0],), entities=payload[1])
        intent, ranking, entities = self.understand(transcript.text)
        meant = next((e for e in entities if e.entity == MEANT and e.text.strip()), None)
        if meant is None or intent.name != CORRECTION:
            return replace(parse, intent=intent, ranking=ranking, entities=entities)
        intent, ranking, entities = self.understand(meant.text)
        return replace(
            parse, text=meant.text, intent=intent, ranking=ranking, entities=entities, corrects=True
        )

    def payload(self, text: str) -> tuple[IntentScore, tuple[Entity, ...]] | None:
        """`/intent{"slot": "value"}` typed (a button's payload) for an intent the skills have;
        anything else, or a broken payload (logged), is understood as words."""
        try:
            found = parse_payload(text)
        except PayloadError as exc:
            log.warning("%r: %s; understood as words", text, exc)
            return None
        if found is not None and found[0].name not in self.skills.intents:
            log.warning(
                "%r: the skills have no intent %r; understood as words", text, found[0].name
            )
            return None
        return found

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Transcript)
        if not message.text.strip():
            yield self.parse(message)
        else:
            yield await self.run_blocking(self.parse, message)
