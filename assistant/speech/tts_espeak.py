"""Formant speech with eSpeak NG: robotic but intelligible, tiny, and tens of times faster than
Piper, so it is the light fallback.

The library is called in-process through ctypes (no subprocess, no apt package). It comes from
the `espeakng-loader` wheel (libespeak-ng + its data) or, when that is absent, from the copy of
espeak-ng that `piper-tts` bundles for its phonemizer (its `espeakbridge` extension exports the
whole espeak C API, synthesis included).
"""

from __future__ import annotations

import ctypes
import importlib
import itertools
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from assistant.core.errors import MissingModelError
from assistant.speech.tts import Synthesizer

LOADER_PACKAGE = "espeakng-loader"

# From espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_Synth returns once the callback has had all the audio
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3
_EE_OK = 0
MIN_WPM, MAX_WPM = 80, 450  # the rates espeak-ng accepts
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

Library = Literal["auto", "espeakng-loader", "piper-tts"]


class EspeakSynthesizer(Synthesizer):
    """One espeak-ng voice on a shared library (`shared_engine`)."""

    def __init__(
        self,
        voice: str = "en-us",
        *,
        words_per_minute: int = 175,
        pitch: int = 50,
        library: Library = "auto",
    ) -> None:
        self.engine = shared_engine(library)
        self.engine.check_voice(voice)
        self.sample_rate = self.engine.sample_rate
        self.voice, self.words_per_minute, self.pitch = voice, words_per_minute, pitch

    def synthesize(self, text: str, length_scale: float = 1.0) -> bytes:
        # A longer length_scale means slower speech: fewer words per minute.
        rate = round(self.words_per_minute / length_scale)
        rate = min(max(rate, MIN_WPM), MAX_WPM)
        return self.engine.speak(text, self.voice, rate, self.pitch)


class EspeakEngine:
    """One loaded libespeak-ng. The library keeps its state (voice, rate, output callback) in
    globals, so there is one engine per library and every use of it holds `lock`."""

    def __init__(self, library: Path, data_dir: Path) -> None:
        self.library = library
        self.data_dir = data_dir
        self.lib = _declare(ctypes.CDLL(str(library)))
        rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_dir).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise MissingModelError(f"espeak-ng could not start with its data in {data_dir}")
        self.sample_rate: int = rate
        self.lock = threading.Lock()
        self._sink: list[bytes] = []
        # Kept on self: espeak holds only the C pointer, and a collected callback would crash.
        self._callback = _SynthCallback(self._collect)
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, samples: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        if count > 0:
            self._sink.append(ctypes.string_at(samples, count * 2))
        return 0  # 0: carry on synthesizing

    def check_voice(self, voice: str) -> None:
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise MissingModelError(
                    f"espeak-ng has no voice {voice!r} (examples: en-us, en (British), de, fr, es)"
                )

    def version(self) -> str:
        """The library's version, e.g. "1.52.0"."""
        with self.lock:
            return (self.lib.espeak_Info(None) or b"").decode()

    def voices(self) -> list[EspeakVoice]:
        """Every voice the library offers, in its order; a voice whose pronunciation
        dictionary is not in the data folder is listed as not installed."""
        with self.lock:
            listed = self.lib.espeak_ListVoices(None)
            found = []
            for index in itertools.count():
                if not listed[index]:
                    break
                voice = listed[index].contents
                identifier = (voice.identifier or b"").decode()
                found.append(
                    EspeakVoice(
                        name=(voice.name or b"").decode().strip(),
                        identifier=identifier,
                        languages=_languages(voice.languages),
                        installed=self._has_dictionary(identifier),
                    )
                )
        return found

    def _has_dictionary(self, identifier: str) -> bool:
        # espeak-ng's rule: a `dictionary` line names it, else the first language up to "-".
        dictionary = ""
        try:
            lines = (self.data_dir / "lang" / identifier).read_text(errors="replace").splitlines()
        except OSError:
            return False
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "dictionary":
                dictionary = value.split()[0]
                break
            if key == "language" and not dictionary:
                dictionary = value.split()[0].split("-")[0]
        return bool(dictionary) and (self.data_dir / f"{dictionary}_dict").is_file()

    def speak(self, text: str, voice: str, words_per_minute: int, pitch: int) -> bytes:
        """16-bit PCM of `text` at `sample_rate` (blocking)."""
        data = text.encode("utf-8") + b"\0"
        with self.lock:
            # Set on every call: another stage may share this engine with other settings.
            self.lib.espeak_SetVoiceByName(voice.encode())
            self.lib.espeak_SetParameter(_RATE, words_per_minute, 0)
            self.lib.espeak_SetParameter(_PITCH, pitch, 0)
            self._sink = []
            status = self.lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            pcm, self._sink = b"".join(self._sink), []
        if status != _EE_OK:
            raise RuntimeError(f"espeak-ng could not synthesize {text!r} (status {status})")
        return pcm


@dataclass(frozen=True)
class EspeakVoice:
    name: str  # e.g. "English (America)"
    identifier: str  # its file under espeak-ng-data/lang, e.g. "gmw/en-US"; selects it
    languages: tuple[str, ...]  # its own first, e.g. ("en-us", "en")
    installed: bool


class _Voice(ctypes.Structure):
    """espeak_VOICE of speak_lib.h."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, language, NUL) pairs, then a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def _languages(pointer: int | None) -> tuple[str, ...]:
    """Decode a voice's languages list, in its order (the voice's own language first)."""
    found: list[str] = []
    while pointer:
        if ctypes.string_at(pointer, 1)[0] == 0:  # the priority byte; 0 ends the list
            break
        language = ctypes.string_at(pointer + 1)
        found.append(language.decode())
        pointer += 2 + len(language)
    return tuple(found)


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Argument types of the functions used, so ctypes converts (and checks) each call."""
    c = ctypes
    lib.espeak_Initialize.argtypes = [c.c_int, c.c_int, c.c_char_p, c.c_int]
    lib.espeak_SetVoiceByName.argtypes = [c.c_char_p]
    lib.espeak_SetParameter.argtypes = [c.c_int, c.c_int, c.c_int]
    lib.espeak_Info.argtypes = [c.c_void_p]
    lib.espeak_Info.restype = c.c_char_p
    lib.espeak_ListVoices.argtypes = [c.c_void_p]
    lib.espeak_ListVoices.restype = c.POINTER(c.POINTER(_Voice))
    lib.espeak_Synth.argtypes = [
        c.c_char_p,  # text
        c.c_size_t,  # its size in bytes, with the terminating NUL
        c.c_uint,  # start position
        c.c_int,  # position type
        c.c_uint,  # end position
        c.c_uint,  # flags (character encoding)
        c.c_void_p,  # out: unique id
        c.c_void_p,  # user data
    ]
    return lib


@dataclass(frozen=True)
class _Source:
    library: Path
    data_dir: Path
    private_copy: bool  # load a copy: the file is already in use by someone else in-process


# Keyed by library file: two engines on one loaded library would steal each other's callback.
_engines: dict[Path, EspeakEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(library: Library) -> EspeakEngine:
    """The engine of a library, loaded once per process."""
    source = _find(library)
    with _engines_lock:
        if source.library not in _engines:
            _engines[source.library] = _open(source)
        return _engines[source.library]


def _find(library: Library) -> _Source:
    if library in ("auto", "espeakng-loader"):
        try:
            loader = importlib.import_module("espeakng_loader")
        except ImportError:
            if library == "espeakng-loader":
                raise MissingModelError(
                    f"espeak-ng is not installed: pip install {LOADER_PACKAGE}"
                ) from None
        else:
            lib, data = Path(loader.get_library_path()), Path(loader.get_data_path())
            return _Source(lib, data, private_copy=False)
    return _piper_source()


def _piper_source() -> _Source:
    try:
        piper = importlib.import_module("piper")
    except ImportError:
        raise MissingModelError(
            f"espeak-ng is not installed: pip install {LOADER_PACKAGE} (or piper-tts)"
        ) from None
    package = Path(piper.__file__ or "").parent
    bridge = next(package.glob("espeakbridge*.so"), None)
    if piper.__file__ is None or bridge is None:
        raise MissingModelError(
            f"this piper-tts has no bundled espeak-ng library: pip install {LOADER_PACKAGE}"
        )
    # Piper's phonemizer uses this library in-process, and sharing its globals crashes.
    return _Source(bridge, package / "espeak-ng-data", private_copy=True)


def _open(source: _Source) -> EspeakEngine:
    if not source.private_copy:
        return EspeakEngine(source.library, source.data_dir)
    # Loaded under another file name, the copy gets its own globals.
    fd, name = tempfile.mkstemp(prefix="assistant-espeak-", suffix=".so")
    try:
        with os.fdopen(fd, "wb") as copy, source.library.open("rb") as original:
            shutil.copyfileobj(original, copy)
        return EspeakEngine(Path(name), source.data_dir)
    finally:
        os.unlink(name)  # the mapping stays valid; nothing is left behind in /tmp
