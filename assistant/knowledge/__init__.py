"""Answers from the user's own documents: see `assistant.knowledge.index`."""

from assistant.knowledge.index import (
    DEFAULT_THRESHOLD,
    KnowledgeAnswer,
    KnowledgeError,
    KnowledgeIndex,
    Passage,
)

__all__ = ["DEFAULT_THRESHOLD", "KnowledgeAnswer", "KnowledgeError", "KnowledgeIndex", "Passage"]
