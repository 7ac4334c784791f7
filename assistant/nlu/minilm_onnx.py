"""MiniLM on transformers, and its one-time export to ONNX.

`TransformersSentenceEncoder` runs the shipped weights through transformers and torch: it is the
reference the ONNX vectors are checked against, and what the export traces. `onnx_model` gives the
ONNX file for a model folder, exporting it into the cache the first time (a few seconds; it needs
torch and the `onnx` package, but only then). The exported graph includes the mean pooling and L2
normalisation, so running it needs only onnxruntime and a tokenizer.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.errors import MissingModelError
from assistant.core.paths import default_cache_dir, kept_file
from assistant.nlu.embedder import MAX_TOKENS, SentenceEncoder, model_identity

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the exported graph changes: the file name changes with it
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_export_lock = threading.Lock()


def _offline_transformers() -> None:
    # Everything is local: never let transformers try the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _load_bert(model_dir: Path) -> tuple[Any, Any]:
    """The tokenizer and the model, with eager attention: the SDPA path traces its mask
    shape-specifically and the exported model then mixes padded positions in."""
    if not (model_dir / "config.json").is_file():
        raise MissingModelError(f"{model_dir}: not a transformers model (no config.json)")
    _offline_transformers()
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    )
    model.eval()
    return tokenizer, model


def _pooled(torch: Any) -> Any:
    """A module over a BERT model: token states mean-pooled over the mask, unit length."""

    class MeanPooled(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return MeanPooled


class TransformersSentenceEncoder(SentenceEncoder):
    """MiniLM on transformers and torch (the reference for the ONNX model)."""

    def __init__(self, model_dir: Path, max_length: int = MAX_TOKENS) -> None:
        import torch

        self._torch = torch
        self.tokenizer, bert = _load_bert(model_dir)
        self.model = _pooled(torch)(bert)
        super().__init__(model_dir, int(bert.config.hidden_size), max_length)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        with self._torch.inference_mode():
            vectors = self.model(**{name: batch[name] for name in INPUTS})
        return np.asarray(vectors.numpy(), dtype=np.float32)


def onnx_path(model_dir: Path) -> Path:
    return (
        default_cache_dir()
        / "minilm-onnx"
        / f"{model_identity(model_dir)}-v{EXPORT_VERSION}.onnx"
    )


def onnx_model(model_dir: Path) -> Path:
    """The ONNX file of a model folder, exported into the cache if it is not there yet."""
    path = onnx_path(model_dir)
    with _export_lock:
        if path.is_file():
            return path
        return kept_file(path, lambda out: export_onnx(model_dir, out), what="the ONNX model")


def export_onnx(model_dir: Path, path: Path) -> None:
    """Trace the pooled model into `path`."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it; fail here with the package name)
        import torch
    except ImportError as exc:
        raise MissingModelError(
            f"exporting MiniLM to ONNX needs torch and onnx ({exc}): pip install onnx"
        ) from exc
    log.info("exporting the sentence-embedding model to %s (once)", path)
    tokenizer, bert = _load_bert(model_dir)
    sample = tokenizer(
        ["a short one", "and a somewhat longer sentence"], padding=True, return_tensors="pt"
    )
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            _pooled(torch)(bert),
            tuple(sample[name] for name in INPUTS),
            str(path),
            input_names=list(INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
