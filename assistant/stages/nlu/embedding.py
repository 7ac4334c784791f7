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
from typing import Any, ClassVar

from pydantic import Field

from assistant.core.stage import Progress, StageContext, StageParams
from assistant.nlu.embedder import SentenceEncoder, prepare_encoder, shared_encoder
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

    def fit_features(self, texts: Sequence[str]) -> Any:
        self.encoder: SentenceEncoder = shared_encoder(self.params.model_path)
        self.lexical: LexicalFeatures | None = None
        if self.params.lexical_weight > 0:
            self.lexical = LexicalFeatures()
            self.lexical.fit_transform(texts)
        return self._combined(texts, self.encoder.encode_remembered(texts))

    def features(self, texts: Sequence[str]) -> Any:
        return self._combined(texts, self.encoder.encode(texts))

    def _combined(self, texts: Sequence[str], dense: Any) -> Any:
        if self.lexical is None:
            return dense
        from scipy.sparse import csr_matrix, hstack
        from sklearn.preprocessing import normalize

        # Both parts have unit length; the result is normalised again so that cosine
        # similarity (the out-of-scope test) stays a dot product in [-1, 1].
        sparse = self.lexical.transform(texts) * self.params.lexical_weight
        return normalize(hstack([csr_matrix(dense), sparse]).tocsr())
