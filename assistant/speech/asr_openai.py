"""Speech recognition with openai-whisper (the reference PyTorch implementation), offline, at
float32 on the CPU: the same decoding options and confidence as the CTranslate2 engine, several
times slower. It loads an openai-whisper checkpoint file (`assistant.weights.ct2_to_openai`
converts the packaged models into one)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.core.errors import MissingModelError
from assistant.speech.whisper import PAD_S, Recognized, WhisperEngine, confidence


def require_openai_whisper() -> None:
    """Fail early, before any checkpoint is looked for or converted, if the runtime is absent."""
    try:
        import torch  # noqa: F401
        import whisper  # noqa: F401
    except ImportError as exc:
        raise MissingModelError(
            f"this backend needs openai-whisper ({exc}): pip install --no-deps openai-whisper"
        ) from exc


class OpenAIWhisperEngine(WhisperEngine):
    """Whisper on PyTorch, CPU float32, from a checkpoint file."""

    def __init__(
        self,
        checkpoint: Path,
        *,
        language: str | None = "en",
        beam_size: int = 5,
        threads: int = 2,
        prompt: str | None = None,
        pad_s: float = PAD_S,
    ) -> None:
        super().__init__(language=language, beam_size=beam_size, prompt=prompt, pad_s=pad_s)
        require_openai_whisper()
        import torch
        import whisper

        torch.set_num_threads(threads)  # a process-wide setting
        # float32 on the CPU: load_model builds the model in float32 and copies the (float16)
        # checkpoint into it; decoding is told fp16=False so it stays there.
        self._model: Any = whisper.load_model(str(checkpoint), device="cpu")

    def decode(self, samples: npt.NDArray[np.float32]) -> Recognized:
        result = self._model.transcribe(
            samples,  # an array, not a path: loading a file needs the ffmpeg binary
            language=self.language,
            beam_size=self.beam_size,
            fp16=False,
            # As in the faster-whisper engine: one short utterance, no timestamps, no context.
            without_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=self.prompt,
        )
        text = " ".join(result["text"].split())
        segments = [SimpleNamespace(**s) for s in result["segments"]]
        score = confidence(segments) if text else 0.0
        return Recognized(text, result["language"] or self.language or "en", score)
