"""Speech synthesis backends: Reply in, one SpeechChunk per sentence out (see `base`)."""

from assistant.stages.tts import espeak, piper

__all__ = ["espeak", "piper"]
