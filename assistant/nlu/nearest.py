"""The similarity of an utterance to the nearest training example (the out-of-scope backstop).

Features are unit rows, so cosine similarity is a dot product. An utterance's feature row is
mostly zeros (MiniLM's 384 dense values, then a few dozen TF-IDF n-grams among thousands), so
only the features where it has a value are read: for 535 examples of 6200 features, about
0.2 ms instead of 4 ms for the whole product in float64.
"""

from __future__ import annotations

import numpy as np

from assistant.nlu.fitted import unit_rows


class NearestExample:
    def __init__(self, examples: np.ndarray) -> None:
        # Feature-major (one row per feature): an utterance's features pick whole rows.
        self._by_feature = np.ascontiguousarray(unit_rows(examples).T, dtype=np.float32)

    def similarity(self, features: np.ndarray) -> float:
        """Cosine similarity of one utterance's features (a row, or a 1-row matrix) to the
        nearest example; 0.0 for an all-zero row (nothing known in it)."""
        row = unit_rows(np.asarray(features, dtype=np.float64).reshape(1, -1))[0]
        used = np.flatnonzero(row)
        if used.size == 0 or self._by_feature.shape[1] == 0:
            return 0.0
        return float((row[used].astype(np.float32) @ self._by_feature[used]).max())
