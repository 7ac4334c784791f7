"""Training examples are encoded once per machine: their vectors are kept on disk per model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.nlu.embedder import SentenceEncoder, shared_encoder

TEXTS = ["set a timer for ten minutes", "add oat milk to my list", "tell me a joke"]


@pytest.fixture
def encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SentenceEncoder:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    encoder = shared_encoder()
    monkeypatch.setattr(encoder, "_remembered", None)  # as in a new process
    return encoder


def forget(encoder: SentenceEncoder) -> None:
    """What a new process knows: only the file."""
    encoder._remembered = None


def test_remembered_vectors_are_the_encoded_ones_and_survive_a_restart(
    encoder: SentenceEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = encoder.encode_remembered(TEXTS)
    assert np.allclose(first, encoder.encode(TEXTS), atol=1e-5)
    assert len(list((tmp_path / "assistant" / "embeddings").glob("*.npz"))) == 1

    forget(encoder)
    encoded: list[list[str]] = []
    real_encode = encoder.encode

    def counting_encode(texts: list[str]) -> np.ndarray:
        encoded.append(list(texts))
        return real_encode(texts)

    monkeypatch.setattr(encoder, "encode", counting_encode)
    again = encoder.encode_remembered([*TEXTS, "what time is it"])

    assert encoded == [["what time is it"]]  # only the new text was encoded
    assert np.array_equal(again[:3], first)


def test_an_unreadable_cache_is_rebuilt(encoder: SentenceEncoder, tmp_path: Path) -> None:
    encoder.encode_remembered(TEXTS)
    (stored,) = (tmp_path / "assistant" / "embeddings").glob("*.npz")
    stored.write_bytes(b"not numpy")
    forget(encoder)

    vectors = encoder.encode_remembered(TEXTS)

    assert vectors.shape == (3, encoder.dimension)
    forget(encoder)
    assert np.array_equal(encoder.encode_remembered(TEXTS), vectors)  # written again, readable


def test_duplicates_and_no_texts(encoder: SentenceEncoder) -> None:
    vectors = encoder.encode_remembered([TEXTS[0], TEXTS[0]])
    assert np.array_equal(vectors[0], vectors[1])
    assert encoder.encode_remembered([]).shape == (0, encoder.dimension)
