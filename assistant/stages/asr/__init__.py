"""Speech recognition backends."""

from assistant.stages.asr import whisper_ct2

__all__ = ["whisper_ct2"]
