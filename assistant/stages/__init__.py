"""Built-in stage backends. Importing this package registers them (see `assistant.stage`)."""

from assistant.stages import asr, dst, filter, guard, nlu, respond, sentiment, tone, tts, vad

__all__ = ["asr", "dst", "filter", "guard", "nlu", "respond", "sentiment", "tone", "tts", "vad"]
