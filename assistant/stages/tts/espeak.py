"""The espeak tts backend: eSpeak NG formant speech (`assistant.speech.tts_espeak`), robotic but
intelligible, tiny, and tens of times faster than Piper, so it is the light fallback."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from assistant.core.errors import missing_package
from assistant.core.stage import StageContext, StageParams
from assistant.persona import load_persona, persona_param
from assistant.speech.tts_espeak import (
    LOADER_PACKAGE,
    MAX_WPM,
    MIN_WPM,
    EspeakSynthesizer,
    Library,
)
from assistant.stages.tts.base import TTSParams, TTSStage


class EspeakParams(TTSParams):
    voice: str | None = Field(
        None,
        description="an espeak-ng voice: en-us, en (British), de, fr, ...; default: the persona's",
    )
    persona: Path | None = persona_param()
    words_per_minute: int = Field(175, ge=MIN_WPM, le=MAX_WPM, description="speaking rate")
    pitch: int = Field(50, ge=0, le=100, description="base pitch (50 is espeak's default)")
    library: Library = Field(
        "auto", description="where libespeak-ng comes from; auto: espeakng-loader, then piper-tts"
    )

    @property
    def voice_id(self) -> str:
        """The voice to speak with: the one given, else the persona's."""
        return self.voice or load_persona(self.persona).voice_for("espeak")


class EspeakTTS(TTSStage):
    backend: ClassVar[str] = "espeak"
    description: ClassVar[str] = "eSpeak NG formant synthesis (light, fast, robotic)"
    Params: ClassVar[type[StageParams]] = EspeakParams
    params: EspeakParams

    @classmethod
    def readiness(cls, params: StageParams, context: StageContext) -> str | None:
        # Either library source will do; `load` says exactly what failed if neither does.
        if missing_package("espeakng_loader", LOADER_PACKAGE) is None:
            return None
        return missing_package("piper", "piper-tts")

    def load(self) -> None:
        self.synthesizer = EspeakSynthesizer(
            self.params.voice_id,
            words_per_minute=self.params.words_per_minute,
            pitch=self.params.pitch,
            library=self.params.library,
        )
        self.engine = self.synthesizer.engine  # the library, shared with other espeak stages
        self.sample_rate = self.synthesizer.sample_rate
