"""Speech recognition with openai-whisper (the reference PyTorch implementation), offline.

No package ships openai-whisper checkpoints, so the packaged CTranslate2 models are converted
once (`assistant.weights.ct2_to_openai`) into the cache directory. Loading never converts on its
own unless `prepare_on_load` is set: writing 75-145 MB into the user's cache is an explicit step
(`assistant models prepare`), not a side effect of starting a pipeline. It decodes with the same
options and scores confidence the same way as the faster-whisper backend, at float32 on the CPU,
several times slower: it is a reference and a second opinion, not the default. The stage finds
the checkpoint; decoding is `assistant.speech.asr_openai`'s.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from assistant.core.errors import MissingModelError, missing_package
from assistant.core.stage import Progress, StageContext, StageParams
from assistant.speech.asr_openai import OpenAIWhisperEngine, require_openai_whisper
from assistant.stages.asr.whisper_ct2 import WhisperASR, WhisperParams
from assistant.weights import model_packages
from assistant.weights.ct2_to_openai import checkpoint_path, openai_checkpoint


class OpenAIWhisperParams(WhisperParams):
    threads: int = Field(2, ge=1, description="torch CPU threads (a process-wide setting)")
    prepare_on_load: bool = Field(
        False, description="convert the model at load if it is not in the cache yet"
    )


class OpenAIWhisperASR(WhisperASR):
    backend: ClassVar[str] = "openai-whisper"
    description: ClassVar[str] = "Whisper on PyTorch (openai-whisper), CPU float32, offline"
    Params: ClassVar[type[StageParams]] = OpenAIWhisperParams
    params: OpenAIWhisperParams

    @classmethod
    def readiness(cls, params: StageParams, context: StageContext) -> str | None:
        assert isinstance(params, OpenAIWhisperParams)
        problem = missing_package("whisper", "openai-whisper") or model_packages(params.model)
        if problem or params.prepare_on_load:
            return problem
        if not checkpoint_path(params.model, context.cache_dir).is_file():
            return f"not converted yet: run `assistant models prepare` (Whisper {params.model})"
        return None

    @classmethod
    def prepare(cls, params: StageParams, context: StageContext, progress: Progress) -> bool:
        assert isinstance(params, OpenAIWhisperParams)
        if checkpoint_path(params.model, context.cache_dir).is_file():
            return False
        what = f"converting Whisper {params.model} for openai-whisper"
        openai_checkpoint(
            params.model, context.cache_dir, lambda done, total: progress(what, done, total)
        )
        return True

    def load(self) -> None:
        require_openai_whisper()  # first: converting a checkpoint it cannot run is no help
        name, cache_dir = self.params.model, self.context.cache_dir
        if self.params.prepare_on_load:
            path = openai_checkpoint(name, cache_dir)
        else:
            path = checkpoint_path(name, cache_dir)
            if not path.is_file():
                raise MissingModelError(
                    f"Whisper {name} for openai-whisper is not prepared yet (no {path}): run "
                    "`assistant models prepare` once (or set prepare_on_load: true)"
                )
        self.engine = OpenAIWhisperEngine(
            path,
            language=self.params.language,
            beam_size=self.params.beam_size,
            threads=self.params.threads,
            prompt=self.initial_prompt(),
            pad_s=self.params.pad_ms / 1000,
        )
