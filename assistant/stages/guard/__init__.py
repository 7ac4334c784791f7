"""guard stage backends (importing this package registers them)."""

from assistant.stages.guard import constitution

__all__ = ["constitution"]
