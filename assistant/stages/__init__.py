"""Built-in stage backends. Importing this package registers them (see `assistant.stage`)."""

from assistant.stages import asr, dst, nlu, respond, tts, vad

__all__ = ["asr", "dst", "nlu", "respond", "tts", "vad"]
