"""Speech recognition with Whisper on CTranslate2 (faster-whisper), fully offline: any
CTranslate2 Whisper folder (the packaged ones come from `assistant.weights.WHISPER_CT2`)."""

from __future__ import annotations

from math import exp
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from assistant.core.errors import MissingModelError
from assistant.speech.nbest import Hypothesis, beam_hypotheses
from assistant.speech.rescore import Rescorer
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
    """Whisper on the CPU with faster-whisper; never downloads (a missing model is an error).

    With a `rescorer`, the transcript is the one it chooses among the beam's `nbest` best
    (`assistant.speech.rescore`); without one, faster-whisper's own best path, as always."""

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
        rescorer: Rescorer | None = None,
        nbest: int = 5,
    ) -> None:
        super().__init__(language=language, beam_size=beam_size, prompt=prompt, pad_s=pad_s)
        self.vad_filter = vad_filter
        self.rescorer = rescorer
        self.nbest = nbest
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
        hypotheses = self.hypotheses(samples) if self.rescorer is not None else None
        if self.rescorer is None or hypotheses is None:
            return self.decode_best(samples)
        return self.recognized(self.rescorer.choose(hypotheses))

    def recognized(self, chosen: Hypothesis) -> Recognized:
        """A hypothesis as the result, its own acoustic score as the confidence (as `confidence`
        makes it for faster-whisper's one segment)."""
        score = exp(chosen.avg_logprob) if chosen.text else 0.0
        return Recognized(chosen.text, self.language or "en", min(max(score, 0.0), 1.0))

    def hypotheses(self, samples: npt.NDArray[np.float32]) -> list[Hypothesis] | None:
        """The beam's `nbest` best transcripts, best first; None where faster-whisper would
        not decode in one beam search (see `assistant.speech.nbest`) or must detect the
        language."""
        if self.vad_filter or self.language is None:
            return None
        return beam_hypotheses(
            self._model,
            samples,
            language=self.language,
            beam_size=self.beam_size,
            num_hypotheses=min(self.nbest, self.beam_size),
            prompt=self.prompt,
        )

    def decode_best(self, samples: npt.NDArray[np.float32]) -> Recognized:
        """faster-whisper's own transcript: the best path of the beam."""
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
