"""The speech engines behind the Wyoming server: Whisper models and voices, each loaded once
(in a worker thread) and shared by every connection, and the `info` that advertises them.

Engines know no bus: this module calls them directly (`assistant.speech`), as the stages do.
The packaged Whisper models are those of `assistant.weights.WHISPER_CT2`; the voices are the
packaged Piper voices (`assistant.speech.tts_piper.VOICE_PACKAGES`) and every eSpeak NG voice.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
)

from assistant import __version__
from assistant.commands.common import pipeline_model
from assistant.config import DEFAULT_MODELS, load_models
from assistant.core.errors import ConfigError, MissingModelError
from assistant.core.paths import default_cache_dir
from assistant.speech.asr_ct2 import ComputeType, FasterWhisperEngine, require_faster_whisper
from assistant.speech.rescore import Rescorer
from assistant.speech.tts import Synthesizer
from assistant.speech.tts_espeak import EspeakSynthesizer, shared_engine
from assistant.speech.tts_piper import VOICE_PACKAGES, PiperSynthesizer, voice_files
from assistant.speech.whisper import PAD_S, WhisperEngine
from assistant.stages.asr.vocabulary import prompt_text, rescorer_of
from assistant.stages.asr.whisper_ct2 import FasterWhisperParams
from assistant.stages.tts.espeak import EspeakParams
from assistant.stages.tts.piper import PiperParams
from assistant.weights import WHISPER_CT2, model_packages

log = logging.getLogger(__name__)

PROJECT = Attribution(name="voice-assistant-pipeline", url="")  # no public home yet
WHISPER = Attribution(name="OpenAI", url="https://github.com/openai/whisper")
FASTER_WHISPER = Attribution(name="SYSTRAN", url="https://github.com/SYSTRAN/faster-whisper")
PIPER = Attribution(name="Open Home Foundation", url="https://github.com/OHF-Voice/piper1-gpl")
PIPER_VOICES = Attribution(name="rhasspy", url="https://huggingface.co/rhasspy/piper-voices")
ESPEAK = Attribution(name="eSpeak NG", url="https://github.com/espeak-ng/espeak-ng")


class SpeechRequestError(ValueError):
    """A request names a model or voice the server does not have; one line for the client."""


@dataclass(frozen=True)
class SpeechOptions:
    """How the Wyoming server recognizes and speaks (the catalog's defaults)."""

    asr_model: str = "tiny.en"  # loaded at start; the others when first asked for
    voice: str = "joe"  # loaded at start; the default of a synthesize without a voice
    beam_size: int = 5
    compute_type: ComputeType = "int8"
    cpu_threads: int = 2
    language: str = "en"  # what the models are told the speech is (the assistant's language)
    prompt: str | None = None  # what Whisper is primed with, as the voice pipeline's asr stage
    pad_s: float = PAD_S
    rescorer: Rescorer | None = None  # chooses among the beam's best, as the asr stage's
    nbest: int = 5
    max_audio_s: float = 120.0
    cache_dir: Path = field(default_factory=default_cache_dir)

    @classmethod
    def from_catalog(
        cls,
        models: Path = DEFAULT_MODELS,
        *,
        asr: str | None = None,
        tts: str | None = None,
        skill_dirs: tuple[Path, ...] = (),
    ) -> SpeechOptions:
        """The speech models of the voice pipeline (or the catalog's models named), so that
        models.yaml decides what Home Assistant's requests are heard and spoken with, primed
        with the words of `skill_dirs` (the built-in skills when empty) as the stage would be."""
        catalog = load_models(models)
        asr, tts = asr or pipeline_model("asr"), tts or pipeline_model("tts")
        for kind, name in (("asr", asr), ("tts", tts)):
            if name not in catalog.get(kind, {}):
                known = ", ".join(catalog.get(kind, {}))
                raise ConfigError(
                    f"{models}: no {kind} model {name!r} (its {kind} models: {known})"
                )
        values: dict[str, Any] = {}
        asr_spec, tts_spec = catalog["asr"][asr], catalog["tts"][tts]
        if asr_spec.backend == "faster-whisper":  # the backend this server runs
            params = FasterWhisperParams(**asr_spec.params)
            values.update(
                asr_model=params.model,
                beam_size=params.beam_size,
                compute_type=params.compute_type,
                cpu_threads=params.cpu_threads,
                language=params.language or "en",
                prompt=prompt_text(params.prompt, params.prompt_words, skill_dirs),
                pad_s=params.pad_ms / 1000,
                rescorer=rescorer_of(params.rescore, params.lm_weight, skill_dirs),
                nbest=params.nbest,
            )
        # The model's voice, else the persona's (assistant/policies/persona.yaml).
        if tts_spec.backend == "espeak":
            values["voice"] = f"espeak-{EspeakParams(**tts_spec.params).voice_id.lower()}"
        elif tts_spec.backend == "piper":
            values["voice"] = PiperParams(**tts_spec.params).voice_id
        return cls(**values)


def base_language(code: str) -> str:
    """'en_US', 'en-us', 'EN' -> 'en'."""
    return code.replace("_", "-").split("-")[0].lower()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


class Recognizers:
    """The packaged Whisper models; each is loaded once, on first use, and then shared."""

    def __init__(self, options: SpeechOptions) -> None:
        self.options = options
        self._engines: dict[str, WhisperEngine] = {}
        self._locks: dict[str, asyncio.Lock] = {name: asyncio.Lock() for name in WHISPER_CT2}

    @staticmethod
    def installed(name: str) -> bool:
        try:
            require_faster_whisper()
        except MissingModelError:
            return False
        return model_packages(name) is None

    def languages(self, name: str) -> list[str]:
        # The models are told the speech is in `language` (English-only ones know no other).
        return [self.options.language]

    def check(self, name: str | None, language: str | None) -> str:
        """The model a transcribe asks for (None: the default), or a SpeechRequestError."""
        name = name or self.options.asr_model
        if name not in WHISPER_CT2:
            raise SpeechRequestError(
                f"transcribe: no speech model {name!r}; models: {', '.join(WHISPER_CT2)}"
            )
        if not self.installed(name):
            raise SpeechRequestError(
                f"transcribe: model {name!r} is not installed: {model_packages(name)}"
            )
        if language and base_language(language) not in self.languages(name):
            raise SpeechRequestError(
                f"transcribe: model {name!r} transcribes {', '.join(self.languages(name))}, "
                f"not {language!r}; leave the language out or send one of those"
            )
        return name

    async def get(self, name: str) -> WhisperEngine:
        """The loaded model (loading it in a worker thread the first time)."""
        async with self._locks[name]:
            if name not in self._engines:
                self._engines[name] = await asyncio.to_thread(self._load, name)
            return self._engines[name]

    def _load(self, name: str) -> WhisperEngine:
        options = self.options
        path = WHISPER_CT2[name](options.cache_dir)  # Whisper base: assembled once, here
        log.info("wyoming: loading Whisper %s from %s", name, path)
        return FasterWhisperEngine(
            path,
            language=options.language,
            beam_size=options.beam_size,
            compute_type=options.compute_type,
            cpu_threads=options.cpu_threads,
            prompt=options.prompt,
            pad_s=options.pad_s,
            rescorer=options.rescorer,
            nbest=options.nbest,
        )

    def program(self) -> AsrProgram:
        models = [
            AsrModel(
                name=name,
                attribution=WHISPER,
                installed=self.installed(name),
                description=f"Whisper {name} (CTranslate2 {self.options.compute_type})",
                version=None,
                languages=self.languages(name),
            )
            for name in WHISPER_CT2
        ]
        return AsrProgram(
            name="assistant-stt",
            attribution=FASTER_WHISPER,
            installed=any(model.installed for model in models),
            description="the assistant's speech recognition: Whisper on faster-whisper, offline",
            version=_version("faster-whisper"),
            models=models,
        )


@dataclass(frozen=True)
class Voice:
    """One voice a synthesize may name."""

    name: str  # what Wyoming calls it: "joe", "espeak-en-us", ...
    description: str
    languages: list[str]  # Piper's style: "en_US"
    installed: bool
    attribution: Attribution
    version: str | None
    load: Callable[[], Synthesizer]  # blocking

    def artifact(self) -> TtsVoice:
        return TtsVoice(
            name=self.name,
            attribution=self.attribution,
            installed=self.installed,
            description=self.description,
            version=self.version,
            languages=self.languages,
        )


def wyoming_language(code: str) -> str:
    """eSpeak's 'en-us' in Piper's (and Home Assistant's voices') style: 'en_US'."""
    parts = code.split("-")
    if len(parts) == 2 and len(parts[1]) == 2 and parts[1].isalpha():
        return f"{parts[0]}_{parts[1].upper()}"
    return code


class Voices:
    """The packaged Piper voices and eSpeak NG's voices; each loaded once and shared."""

    def __init__(self, options: SpeechOptions) -> None:
        self.options = options
        self.voices: dict[str, Voice] = {v.name: v for v in [*_piper_voices(), *_espeak_voices()]}
        self._loaded: dict[str, Synthesizer] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def pick(self, name: str | None, language: str | None) -> Voice:
        """The voice a synthesize asks for: by name, else the default's language or the
        first installed voice of the language, else the default; or a SpeechRequestError."""
        if name:
            voice = self.voices.get(name)
            if voice is None:
                piper = [v for v in self.voices if not v.startswith("espeak-")]
                raise SpeechRequestError(
                    f"synthesize: no voice {name!r}; voices: {', '.join(piper)}, espeak-en-us "
                    "and the other espeak-* voices that describe lists"
                )
        else:
            default = self.voices.get(self.options.voice)
            voice = default or next(v for v in self.voices.values() if v.installed)
            if language and not _speaks(voice, language):
                voice = next(
                    (v for v in self.voices.values() if v.installed and _speaks(v, language)),
                    None,
                ) or _no_voice(language)
        if not voice.installed:
            raise SpeechRequestError(f"synthesize: voice {voice.name!r} is not installed")
        return voice

    async def load(self, voice: Voice) -> Synthesizer:
        """The voice, loaded in a worker thread the first time it is used."""
        lock = self._locks.setdefault(voice.name, asyncio.Lock())
        async with lock:
            if voice.name not in self._loaded:
                self._loaded[voice.name] = await asyncio.to_thread(voice.load)
            return self._loaded[voice.name]

    def program(self) -> TtsProgram:
        return TtsProgram(
            name="assistant-tts",
            attribution=PROJECT,
            installed=any(v.installed for v in self.voices.values()),
            description="the assistant's voices: Piper (neural) and eSpeak NG (light), offline",
            version=__version__,
            voices=[v.artifact() for v in self.voices.values()],
        )


def _speaks(voice: Voice, language: str) -> bool:
    wanted = language.replace("-", "_").lower()
    codes = [code.lower() for code in voice.languages]
    return wanted in codes or (
        "_" not in wanted and any(base_language(code) == wanted for code in codes)
    )


def _no_voice(language: str) -> Voice:
    raise SpeechRequestError(f"synthesize: no installed voice speaks {language!r}")


def _piper_voices() -> list[Voice]:
    voices = []
    for name, (_module, package) in VOICE_PACKAGES.items():
        try:
            voice_files(name)
            installed = importlib.util.find_spec("piper") is not None
        except MissingModelError:
            installed = False
        voices.append(
            Voice(
                name=name,
                description=f"Piper {name} (en_US, medium, neural)",
                languages=["en_US"],
                installed=installed,
                attribution=PIPER_VOICES,
                version=_version(package),
                load=functools.partial(PiperSynthesizer.load, name),
            )
        )
    return voices


def _espeak_voices() -> list[Voice]:
    try:
        engine = shared_engine("auto")
    except MissingModelError as exc:
        log.info("wyoming: no eSpeak NG voices (%s)", exc)
        return []
    version = engine.version()
    return [
        Voice(
            name=f"espeak-{voice.identifier.rsplit('/', 1)[-1].lower()}",
            description=f"eSpeak NG {voice.name}",
            languages=[wyoming_language(code) for code in voice.languages],
            installed=voice.installed,
            attribution=ESPEAK,
            version=version,
            load=functools.partial(EspeakSynthesizer, voice.identifier),
        )
        for voice in engine.voices()
    ]


def handle_program(agent: str, languages: list[str]) -> HandleProgram:
    """The whole assistant as a conversation agent."""
    return HandleProgram(
        name="assistant",
        attribution=PROJECT,
        installed=True,
        description="the voice assistant: timers, lists, questions, small talk, offline",
        version=__version__,
        models=[
            HandleModel(
                name=agent,
                attribution=PROJECT,
                installed=True,
                description=f"the {agent!r} pipeline",
                version=__version__,
                languages=languages,
            )
        ],
        supports_handled_streaming=False,
        supports_home_control=False,  # it does not switch Home Assistant's devices
    )


def build_info(recognizers: Recognizers, voices: Voices, agent: str) -> Info:
    return Info(
        asr=[recognizers.program()],
        tts=[voices.program()],
        handle=[handle_program(agent, [recognizers.options.language])],
    )
