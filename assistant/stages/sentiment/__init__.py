"""sentiment stage backends (importing this package registers them)."""

from assistant.stages.sentiment import embedding, vader

__all__ = ["embedding", "vader"]
