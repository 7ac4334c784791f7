"""Intent detection on sentence embeddings (all-MiniLM-L6-v2) with logistic regression.

Out of scope is decided mainly by distance: an utterance whose nearest training example is less
similar than `similarity_threshold` is not something the skills were trained for, however
confident the classifier is (a softmax always picks some intent).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from assistant.nlu.embedder import SentenceEncoder, shared_encoder
from assistant.stage import StageParams, register
from assistant.stages.nlu.classifier import ClassifierParams, IntentClassifierStage


class EmbeddingParams(ClassifierParams):
    similarity_threshold: float = Field(
        0.4,
        ge=-1,
        le=1,
        description="cosine similarity to the nearest example below which the "
        "utterance is out of scope",
    )
    model_path: Path | None = Field(
        None, description="a sentence-embedding model folder; default: the shipped MiniLM"
    )


@register
class EmbeddingIntentClassifier(IntentClassifierStage):
    backend: ClassVar[str] = "embedding"
    description: ClassVar[str] = "MiniLM sentence embeddings + logistic regression"
    Params: ClassVar[type[StageParams]] = EmbeddingParams
    params: EmbeddingParams

    def fit_features(self, texts: Sequence[str]) -> np.ndarray:
        self.encoder: SentenceEncoder = shared_encoder(self.params.model_path)
        self.example_vectors = self.encoder.encode(texts)
        return self.example_vectors

    def features(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def is_out_of_scope(self, features: np.ndarray, top_probability: float) -> bool:
        nearest = float(np.max(self.example_vectors @ features[0]))
        return nearest < self.params.similarity_threshold or super().is_out_of_scope(
            features, top_probability
        )
