"""Intent detection on TF-IDF features (character n-grams and words) with logistic regression.

Lighter and faster to start than the embedding backend (no torch), robust to typos, but it knows
only the words of the training examples, so paraphrases with new words fare worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from assistant.stages.nlu.classifier import IntentClassifierStage


class LexicalFeatures:
    """Character n-grams (within words: spelling variants, typos, "timer"/"timers") next to word
    unigrams and bigrams (what the words are: "add" vs "remove", "take ... off"), each TF-IDF
    block L2-normalised and the two concatenated and normalised again. Character n-grams alone
    let long shared words outvote the one word that decides the intent."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), lowercase=True, sublinear_tf=True
        )
        # \w+ keeps one-letter words ("i", "a") that the default pattern drops.
        self.words = TfidfVectorizer(
            analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", sublinear_tf=True
        )

    def fit_transform(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import hstack
        from sklearn.preprocessing import normalize

        blocks = [self.chars.fit_transform(texts), self.words.fit_transform(texts)]
        return normalize(hstack(blocks).tocsr())

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import hstack
        from sklearn.preprocessing import normalize

        blocks = [self.chars.transform(texts), self.words.transform(texts)]
        return normalize(hstack(blocks).tocsr())


class TfidfIntentClassifier(IntentClassifierStage):
    backend: ClassVar[str] = "tfidf"
    description: ClassVar[str] = "character and word n-gram TF-IDF + logistic regression"

    def fit_features(self, texts: Sequence[str]) -> Any:
        self.vectorizer = LexicalFeatures()
        return self.vectorizer.fit_transform(texts)

    def features(self, texts: Sequence[str]) -> Any:
        return self.vectorizer.transform(texts)
