"""Response generation backends."""

from assistant.stages.respond import chain, templates

__all__ = ["chain", "templates"]
