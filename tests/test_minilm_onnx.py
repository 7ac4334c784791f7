"""MiniLM on ONNX Runtime: exported once from the shipped weights, the same vectors as the
transformers model, and a text path that imports no torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.nlu.embedder import default_model_dir, shared_encoder
from assistant.nlu.minilm_onnx import (
    TransformersSentenceEncoder,
    onnx_model,
    onnx_path,
    weights_path,
)

SENTENCES = [
    "hi",
    "",
    "set a timer for ten minutes",
    "What's the weather like in Paris tomorrow?",
    "add oat milk, eggs and two loaves of bread to my shopping list please",
    "ugh, this is so annoying, it broke again!!",
    "Ich möchte einen Tisch reservieren.",  # not English: still the same vectors
    "tell me a joke " * 60,  # longer than 128 tokens: both cut it the same way
]


def test_onnx_vectors_match_the_transformers_model() -> None:
    onnx = shared_encoder().encode(SENTENCES)  # one padded batch
    reference = TransformersSentenceEncoder(default_model_dir()).encode(SENTENCES)
    assert onnx.shape == reference.shape == (len(SENTENCES), 384)
    cosines = (onnx * reference).sum(axis=1)
    assert cosines.min() >= 0.9999, dict(zip(SENTENCES, cosines.round(6), strict=True))
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([shared_encoder().encode([s])[0] for s in SENTENCES])
    assert np.allclose(one_by_one, onnx, atol=1e-5)  # padding changes nothing


def test_the_export_is_made_once_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = onnx_model(default_model_dir())
    assert path == onnx_path(default_model_dir()) and path.is_file()
    assert path.is_relative_to(tmp_path)
    # The graph and its weights, and no partial file left.
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, weights_path(path).name]
    assert path.stat().st_size < 1 << 20  # the weights (90 MB) are in their own file
    mtime = path.stat().st_mtime_ns
    assert onnx_model(default_model_dir()) == path and path.stat().st_mtime_ns == mtime


def test_encoding_imports_neither_torch_nor_transformers() -> None:
    onnx_model(default_model_dir())  # exported already (by the user's cache or the tests')
    code = (
        "import sys\n"
        "from assistant.nlu.embedder import shared_encoder\n"
        "vectors = shared_encoder().encode(['set a timer for ten minutes'])\n"
        "assert vectors.shape == (1, 384)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
