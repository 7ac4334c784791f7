"""Answers from the user's own documents: `assistant.knowledge.index` builds and searches the
index; `documents` finds and reads the files, `passages` cuts them into passages, `cache` keeps
their embeddings on disk, `answer` shortens the best passage for speech."""

from assistant.knowledge.answer import KnowledgeAnswer
from assistant.knowledge.documents import KnowledgeError
from assistant.knowledge.index import DEFAULT_THRESHOLD, KnowledgeIndex
from assistant.knowledge.passages import Passage

__all__ = ["DEFAULT_THRESHOLD", "KnowledgeAnswer", "KnowledgeError", "KnowledgeIndex", "Passage"]
