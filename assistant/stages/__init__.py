"""Built-in stage backends. Importing this package registers them (see `assistant.stage`)."""

from assistant.stages import nlu, respond

__all__ = ["nlu", "respond"]
