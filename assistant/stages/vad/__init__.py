"""Voice activity detection backends: cut an audio stream into utterances."""

from assistant.stages.vad import silero

__all__ = ["silero"]
