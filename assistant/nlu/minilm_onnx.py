"""MiniLM on transformers, and its one-time export to ONNX.

`TransformersSentenceEncoder` runs the shipped weights through transformers and torch: it is the
reference the ONNX vectors are checked against, and what the export traces. `onnx_model` gives the
ONNX file for a model folder, exporting it into the cache the first time (a few seconds; it needs
torch and the `onnx` package, but only then). The exported graph includes the mean pooling and L2
normalisation, so running it needs only onnxruntime and a tokenizer.

The weights are kept beside the graph in a file of their own (ONNX external data, each tensor at
a page-aligned offset), which ONNX Runtime maps into memory instead of copying: the token
embedding table, half of the model's 90 MB, is then read only where the texts' tokens are, and
the graph is never held in memory twice while the session is built.
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

EXPORT_VERSION = 2  # bump when the exported graph changes: the file name changes with it
PAGE = 4096  # external weights start on page boundaries, so that they can be mapped
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


def weights_path(graph: Path) -> Path:
    """The file of an exported graph's weights."""
    return graph.with_suffix(".weights")


def onnx_model(model_dir: Path) -> Path:
    """The ONNX file of a model folder (its weights beside it), exported into the cache if it is
    not there yet."""
    path = onnx_path(model_dir)
    with _export_lock:
        if path.is_file() and weights_path(path).is_file():
            return path
        weights = weights_path(path).name
        return kept_file(
            path, lambda out: export_onnx(model_dir, out, weights), what="the ONNX model"
        )


def export_onnx(model_dir: Path, path: Path, weights: str | None = None) -> None:
    """Trace the pooled model into `path`, its weights into the file `weights` (a name) beside
    it; by default `weights_path(path)`. The weights are in place before the graph."""
    try:
        import onnx  # torch's exporter needs it too: fail here with the package name
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
    model = onnx.load(str(path))
    name = weights or weights_path(path).name
    # Renamed into place whole: a graph is never beside half of its weights. Processes that
    # export at once write the same bytes.
    partial = path.with_name(f"{name}.{os.getpid()}.tmp")
    try:
        move_weights(model, partial, name)
        os.replace(partial, path.with_name(name))
    finally:
        partial.unlink(missing_ok=True)
    onnx.save_model(model, str(path))


def move_weights(model: Any, path: Path, name: str) -> None:
    """Move the model's initializers of a page or more into the file `path`, each at a
    page-aligned offset, leaving references to the file `name` (beside the graph) in their
    place."""
    from onnx import TensorProto

    with path.open("wb") as out:
        for tensor in model.graph.initializer:
            if len(tensor.raw_data) < PAGE:
                continue  # small tensors stay in the graph
            offset = -(-out.tell() // PAGE) * PAGE
            out.seek(offset)
            out.write(tensor.raw_data)
            del tensor.external_data[:]
            for key, value in (
                ("location", name),
                ("offset", str(offset)),
                ("length", str(len(tensor.raw_data))),
            ):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            tensor.data_location = TensorProto.EXTERNAL
            tensor.ClearField("raw_data")
