"""tone stage backends (importing this package registers them)."""

from assistant.stages.tone import adjust

__all__ = ["adjust"]
