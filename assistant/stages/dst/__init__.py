"""Dialogue state tracking backends."""

from assistant.stages.dst import tracker

__all__ = ["tracker"]
