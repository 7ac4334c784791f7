"""Any causal LM folder that transformers can load, run on the CPU, read from disk only.

`TransformersGenerator` samples token by token in its own loop (repeat penalty, temperature,
top-p) so pieces stream without a helper thread. torch and transformers are imported only when
a generator is built, never when this module is: the text path does not pay for them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from assistant.core.errors import MissingModelError
from assistant.generation.llm import FinishReason, StopScanner

if TYPE_CHECKING:
    import torch

TRANSFORMERS_PIP = "transformers torch"


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
