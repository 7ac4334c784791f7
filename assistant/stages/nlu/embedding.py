"""Intent detection on sentence embeddings (all-MiniLM-L6-v2) with logistic regression.

Paraphrases with words never seen in training still land near the right examples, which is why
this is the default intent backend. The embedding is joined by the TF-IDF features of the tfidf
backend (`lexical_weight`), as Rasa's DIET joins dense and sparse features: the sentence
embedding of a one-word utterance ("ta", "cheerio") or a near-copy of an example says less than
its words and characters do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from assistant.core.stage import Progress, StageContext, StageParams
from assistant.nlu.embedder import (
    SentenceEncoder,
    model_identity,
    prepare_encoder,
    shared_encoder,
)
from assistant.nlu.fitted import unit_rows
from assistant.stages.nlu.classifier import ClassifierParams, IntentClassifierStage
from assistant.stages.nlu.tfidf import LexicalFeatures


class EmbeddingParams(ClassifierParams):
    model_path: Path | None = Field(
        None, description="a sentence-embedding model folder; default: the shipped MiniLM"
    )
    lexical_weight: float = Field(
        1.0,
        ge=0,
        description="weight of the TF-IDF n-gram features next to the embedding; 0: embedding only",
    )


class EmbeddingIntentClassifier(IntentClassifierStage):
    backend: ClassVar[str] = "embedding"
    description: ClassVar[str] = (
        "MiniLM sentence embeddings (+ TF-IDF n-grams), logistic regression"
    )
    Params: ClassVar[type[StageParams]] = EmbeddingParams
    params: EmbeddingParams

    @classmethod
    def prepare(cls, params: StageParams, context: StageContext, progress: Progress) -> bool:
        assert isinstance(params, EmbeddingParams)
        return prepare_encoder(params.model_path)

    def fit_identity(self) -> list[object]:
        return [model_identity(self._encoder().model_dir), self.params.lexical_weight]

    def _encoder(self) -> SentenceEncoder:
        if not hasattr(self, "encoder"):
            self.encoder: SentenceEncoder = shared_encoder(self.params.model_path)
        return self.encoder

    def fit_features(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        self.lexical: LexicalFeatures | None = None
        if self.params.lexical_weight == 0:
            return {}
        self.lexical = LexicalFeatures.fit(texts)
        return self.lexical.arrays()

    def restore_features(self, arrays: dict[str, np.ndarray]) -> None:
        self._encoder()
        self.lexical = LexicalFeatures.from_arrays(arrays) if self.params.lexical_weight else None

    def features(self, texts: Sequence[str], *, training: bool = False) -> np.ndarray:
        encoder = self._encoder()
        dense = encoder.encode_remembered(texts) if training else encoder.encode(texts)
        if self.lexical is None:
            return dense
        # Both parts have unit length; the result is normalised again so that cosine
        # similarity (the out-of-scope test) stays a dot product in [-1, 1].
        lexical = self.lexical.transform(texts) * self.params.lexical_weight
        return unit_rows(np.hstack([dense, lexical]))
