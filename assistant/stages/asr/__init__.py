"""Speech recognition backends."""

from assistant.stages.asr import openai_whisper, whisper_ct2

__all__ = ["openai_whisper", "whisper_ct2"]
