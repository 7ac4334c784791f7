"""Fitted models kept on disk, so that a start loads them in milliseconds instead of fitting.

The classifiers of intents, sentiment, toxicity and the guard are fitted on examples kept in the
project (YAML), and fitting them (plus importing scikit-learn to do it) took seconds of every
start. A fitted model is saved once under a key that hashes everything it was made from: its
training data, its settings, the embedding model, and `FIT_VERSION` with the package version
(the code). Change any `nlu.yml` or policy file and the key changes, so it is fitted again.

What is saved are plain arrays in an `.npz` file (no pickle: nothing in the cache can run
code), and what is loaded needs only numpy: `LinearClassifier` is the prediction half of
scikit-learn's logistic regression, `Tfidf` the transform half of its TF-IDF vectorizer, and
both give the same numbers (tests compare them with scikit-learn's).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant import __version__
from assistant.core.paths import default_cache_dir, write_whole

log = logging.getLogger(__name__)

FIT_VERSION = 1  # bump when what is saved, or how it is fitted, changes


def fit_key(kind: str, *parts: object) -> str:
    """A digest of everything a fitted model depends on (parts must be JSON-serialisable)."""
    identity = json.dumps([kind, FIT_VERSION, __version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def fitted_path(kind: str, key: str) -> Path:
    return default_cache_dir() / "fitted" / f"{kind}-{key}.npz"


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays saved at `path`; None if there are none (or they cannot be read: refit)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring the fitted model %s: %s", path, exc)
        return None


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """A read-only cache only costs a refit at the next start."""
    write_whole(path, lambda out: np.savez(out, **dict(arrays)), what="the fitted model")  # type: ignore[arg-type]


@dataclass(frozen=True)
class LinearClassifier:
    """A fitted logistic regression: one row of weights per class (one for two classes)."""

    coef: np.ndarray  # (classes or 1, features)
    intercept: np.ndarray  # (classes or 1,)
    classes: list[str]

    @classmethod
    def fit(
        cls,
        features: Any,
        labels: Sequence[str],
        *,
        regularization: float,
        class_weight: str | None = None,
    ) -> LinearClassifier:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=regularization, max_iter=2000, class_weight=class_weight)
        model.fit(features, list(labels))
        return cls(model.coef_, model.intercept_, [str(c) for c in model.classes_])

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """As scikit-learn's: a logistic for two classes, a softmax for more."""
        scores = np.asarray(features @ self.coef.T) + self.intercept
        if len(self.classes) == 2:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}coef": self.coef,
            f"{prefix}intercept": self.intercept,
            f"{prefix}classes": np.array(self.classes),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> LinearClassifier:
        classes = [str(c) for c in arrays[f"{prefix}classes"].tolist()]
        return cls(arrays[f"{prefix}coef"], arrays[f"{prefix}intercept"], classes)


_WHITESPACE = re.compile(r"\s\s+")


@dataclass(frozen=True)
class Tfidf:
    """A fitted TF-IDF space (scikit-learn's `TfidfVectorizer` with `sublinear_tf`, L2 rows):
    its vocabulary and idf weights, and the n-grams of a text as that vectorizer cuts them.
    `analyzer` is "char_wb" (character n-grams inside words) or "word" (`token_pattern`)."""

    analyzer: str
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray
    token_pattern: str = r"(?u)\b\w\w+\b"

    @classmethod
    def fit(
        cls, texts: Sequence[str], analyzer: str, ngram_range: tuple[int, int], **kw: str
    ) -> Tfidf:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            analyzer=analyzer, ngram_range=ngram_range, lowercase=True, sublinear_tf=True, **kw
        )
        vectorizer.fit(texts)
        vocabulary = {str(term): int(i) for term, i in vectorizer.vocabulary_.items()}
        return cls(analyzer, ngram_range, vocabulary, vectorizer.idf_, **kw)

    def ngrams(self, text: str) -> list[str]:
        low, high = self.ngram_range
        text = text.lower()
        if self.analyzer == "word":
            tokens = re.findall(self.token_pattern, text)
            return [
                " ".join(tokens[i : i + n])
                for n in range(low, high + 1)
                for i in range(len(tokens) - n + 1)
            ]
        grams = []
        for word in _WHITESPACE.sub(" ", text).split():
            padded = f" {word} "
            for n in range(low, high + 1):
                grams += [padded[i : i + n] for i in range(max(len(padded) - n + 1, 1))]
                if len(padded) <= n:  # a short word counts once, whole, as scikit-learn does
                    break
        return grams

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.zeros((len(texts), len(self.idf)), dtype=np.float64)
        for row, text in zip(rows, texts, strict=True):
            counts = Counter(t for t in self.ngrams(text) if t in self.vocabulary)
            for term, count in counts.items():
                row[self.vocabulary[term]] = (1.0 + np.log(count)) * self.idf[self.vocabulary[term]]
        return unit_rows(rows)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        settings = [self.analyzer, *map(str, self.ngram_range), self.token_pattern]
        return {
            f"{prefix}terms": np.array(terms, dtype=str),
            f"{prefix}idf": self.idf,
            f"{prefix}settings": np.array(settings),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> Tfidf:
        analyzer, low, high, pattern = arrays[f"{prefix}settings"].tolist()
        terms = arrays[f"{prefix}terms"].tolist()
        vocabulary = {str(term): i for i, term in enumerate(terms)}
        return cls(
            str(analyzer), (int(low), int(high)), vocabulary, arrays[f"{prefix}idf"], str(pattern)
        )


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (rows of zeros stay zero), as scikit-learn's `normalize`."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.where(norms == 0, 1.0, norms))


def remembered(
    kind: str, key: str, fit: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays of a fitted model: loaded if this key was fitted before, else fitted by `fit`
    and saved for the next start."""
    path = fitted_path(kind, key)
    arrays = load_arrays(path)
    if arrays is None:
        arrays = fit()
        save_arrays(path, arrays)
    return arrays
