"""Speech recognition with Whisper on CTranslate2 (faster-whisper), fully offline: any
CTranslate2 Whisper folder (the packaged ones come from `assistant.weights.WHISPER_CT2`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from assistant.core.errors import MissingModelError
from assistant.speech.whisper import PAD_S, Recognized, WhisperEngine, confidence

ComputeType = Literal[
    "default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
    "float16", "bfloat16", "float32",
]  # fmt: skip


def require_faster_whisper() -> None:
    """Fail early, before a packaged model is looked for, if the runtime is absent."""
    try:
        import faster_whisper  # noqa: F401
    except ImportError as exc:
        raise MissingModelError(
            f"speech recognition needs faster-whisper ({exc}): pip install faster-whisper"
        ) from exc


class FasterWhisperEngine(WhisperEngine):
    """Whisper on the CPU with faster-whisper; never downloads (a missing model is an error)."""

    def __init__(
        self,
        model_dir: Path,
        *,
        language: str | None = "en",
        beam_size: int = 5,
        compute_type: ComputeType = "int8",
        cpu_threads: int = 2,
        vad_filter: bool = False,
        prompt: str | None = None,
        pad_s: float = PAD_S,
    ) -> None:
        super().__init__(language=language, beam_size=beam_size, prompt=prompt, pad_s=pad_s)
        self.vad_filter = vad_filter
        require_faster_whisper()
        from faster_whisper import WhisperModel

        if not (model_dir / "model.bin").is_file():
            raise MissingModelError(
                f"{model_dir} is not a CTranslate2 Whisper model folder (no model.bin); convert "
                "one with ct2-transformers-converter or use a packaged model"
            )
        self._model: Any = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            local_files_only=True,  # never download: a missing model is an error, not a fetch
        )

    def decode(self, samples: npt.NDArray[np.float32]) -> Recognized:
        segments, info = self._model.transcribe(
            samples,
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=self.vad_filter,
            # One short utterance: timestamps and conditioning on earlier text are not used,
            # and timestamp tokens would only lower the confidence.
            without_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=self.prompt,
        )
        decoded = list(segments)  # a lazy generator: decoding happens here, in this thread
        text = " ".join("".join(s.text for s in decoded).split())
        score = confidence(decoded) if text else 0.0
        return Recognized(text, info.language or self.language or "en", score)
