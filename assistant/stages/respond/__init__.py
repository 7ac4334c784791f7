"""Response generation backends."""

from assistant.stages.respond import templates

__all__ = ["templates"]
