"""Built-in stage backends. Importing this package registers them (see `assistant.stage`)."""

from assistant.stages import dst, nlu, respond

__all__ = ["dst", "nlu", "respond"]
