"""Intent detection on character n-gram TF-IDF features with logistic regression.

Lighter and faster to start than the embedding backend (no torch), robust to typos, but it knows
only the words of the training examples, so paraphrases with new words fare worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from assistant.stage import register
from assistant.stages.nlu.classifier import IntentClassifierStage


@register
class TfidfIntentClassifier(IntentClassifierStage):
    backend: ClassVar[str] = "tfidf"
    description: ClassVar[str] = "character n-gram TF-IDF + logistic regression"

    def fit_features(self, texts: Sequence[str]) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), lowercase=True, sublinear_tf=True
        )
        return self.vectorizer.fit_transform(texts)

    def features(self, texts: Sequence[str]) -> Any:
        return self.vectorizer.transform(texts)
