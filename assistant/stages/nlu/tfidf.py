"""Intent detection on TF-IDF features (character n-grams and words) with logistic regression.

Lighter and faster to start than the embedding backend (no torch), robust to typos, but it knows
only the words of the training examples, so paraphrases with new words fare worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from assistant.nlu.fitted import Tfidf, unit_rows
from assistant.stages.nlu.classifier import IntentClassifierStage


class LexicalFeatures:
    """Character n-grams (within words: spelling variants, typos, "timer"/"timers") next to word
    unigrams and bigrams (what the words are: "add" vs "remove", "take ... off"), each TF-IDF
    block L2-normalised and the two concatenated and normalised again. Character n-grams alone
    let long shared words outvote the one word that decides the intent."""

    def __init__(self, chars: Tfidf, words: Tfidf) -> None:
        self.chars = chars
        self.words = words

    @classmethod
    def fit(cls, texts: Sequence[str]) -> LexicalFeatures:
        # \w+ keeps one-letter words ("i", "a") that the default pattern drops.
        words = Tfidf.fit(texts, "word", (1, 2), token_pattern=r"(?u)\b\w+\b")
        return cls(Tfidf.fit(texts, "char_wb", (2, 4)), words)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        return unit_rows(np.hstack([self.chars.transform(texts), self.words.transform(texts)]))

    def arrays(self) -> dict[str, np.ndarray]:
        return {**self.chars.arrays("chars_"), **self.words.arrays("words_")}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> LexicalFeatures:
        return cls(Tfidf.from_arrays(arrays, "chars_"), Tfidf.from_arrays(arrays, "words_"))


class TfidfIntentClassifier(IntentClassifierStage):
    backend: ClassVar[str] = "tfidf"
    description: ClassVar[str] = "character and word n-gram TF-IDF + logistic regression"

    def fit_features(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        self.lexical = LexicalFeatures.fit(texts)
        return self.lexical.arrays()

    def restore_features(self, arrays: dict[str, np.ndarray]) -> None:
        self.lexical = LexicalFeatures.from_arrays(arrays)

    def features(self, texts: Sequence[str], *, training: bool = False) -> np.ndarray:
        return self.lexical.transform(texts)
