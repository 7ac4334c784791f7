"""A small text classifier on the shared sentence embeddings, trained from labelled examples.

Sentiment, the toxicity check of the filter and the harmful-request check of the input guard all
learn from a few hundred labelled sentences kept in the project (YAML: label -> examples). Logistic
regression on MiniLM embeddings trains in about a second; it is fitted on the first start and
kept in the cache under a key of its examples (`assistant.nlu.fitted`), so it never drifts from
its data and later starts load it in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from assistant.nlu.embedder import SentenceEncoder, model_identity
from assistant.nlu.fitted import LinearClassifier, fit_key, remembered


def load_labelled(path: Path) -> dict[str, list[str]]:
    """Read `label: [example, ...]` YAML; a clear error names the file if it is malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read labelled examples: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(examples, list) and all(isinstance(e, str) for e in examples)
        for examples in data.values()
    ):
        raise ValueError(f"{path}: expected a mapping of label -> list of example sentences")
    return {str(label): list(examples) for label, examples in data.items()}


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    probability: float
    probabilities: dict[str, float]
    nearest_similarity: float  # cosine to the closest training example: low means unfamiliar


class EmbeddingClassifier:
    """Logistic regression over sentence embeddings, with class weights balanced so that a
    label with fewer examples is not drowned out."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        examples: Mapping[str, Sequence[str]],
        *,
        regularization: float = 10.0,
    ) -> None:
        texts = [text for examples_of in examples.values() for text in examples_of]
        labels = [label for label, examples_of in examples.items() for _ in examples_of]
        if len(set(labels)) < 2:
            raise ValueError("a classifier needs examples of at least two labels")
        self.encoder = encoder
        self.example_vectors = encoder.encode_remembered(texts)
        key = fit_key(
            "labelled", model_identity(encoder.model_dir), examples, regularization, "balanced"
        )

        def fit() -> dict[str, np.ndarray]:
            model = LinearClassifier.fit(
                self.example_vectors, labels, regularization=regularization, class_weight="balanced"
            )
            return model.arrays("")

        self.model = LinearClassifier.from_arrays(remembered("labelled", key, fit), "")
        self.labels: list[str] = self.model.classes

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Blocking (runs the encoder): call from a stage's worker thread."""
        if not texts:
            return []
        vectors = self.encoder.encode(texts)
        probabilities = self.model.predict_proba(vectors)
        # Vectors are unit length: the dot product is the cosine similarity.
        nearest = (vectors @ self.example_vectors.T).max(axis=1)
        predictions = []
        for row, similarity in zip(probabilities, nearest, strict=True):
            best = int(np.argmax(row))
            predictions.append(
                Prediction(
                    label=self.labels[best],
                    probability=float(row[best]),
                    probabilities={
                        label: float(p) for label, p in zip(self.labels, row, strict=True)
                    },
                    nearest_similarity=float(similarity),
                )
            )
        return predictions
