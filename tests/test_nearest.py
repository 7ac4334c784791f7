"""The nearest-example similarity reads only an utterance's non-zero features, and gives the
full product's answer."""

from __future__ import annotations

import numpy as np

from assistant.nlu.fitted import unit_rows
from assistant.nlu.nearest import NearestExample


def test_the_same_similarity_as_the_full_product() -> None:
    rng = np.random.default_rng(7)
    dense = rng.normal(size=(300, 32))
    lexical = rng.random((300, 500)) * (rng.random((300, 500)) < 0.02)  # sparse, as TF-IDF
    examples = np.hstack([dense, lexical])
    nearest = NearestExample(examples)
    for _ in range(20):
        utterance = np.concatenate([rng.normal(size=32), lexical[rng.integers(300)]])
        expected = (unit_rows(examples) @ unit_rows(utterance[None, :])[0]).max()
        assert abs(nearest.similarity(utterance) - expected) < 1e-5
        assert abs(nearest.similarity(utterance[None, :]) - expected) < 1e-5


def test_an_utterance_with_no_known_feature_is_like_nothing() -> None:
    nearest = NearestExample(np.eye(4))
    assert nearest.similarity(np.zeros(4)) == 0.0
    assert nearest.similarity(np.array([0.0, 0.0, 2.0, 0.0])) == 1.0
