"""Response filter backends (importing this package registers them)."""

from assistant.stages.filter import safety

__all__ = ["safety"]
