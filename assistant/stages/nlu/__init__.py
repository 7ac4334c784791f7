"""Intent detection backends."""

from assistant.stages.nlu import embedding, tfidf

__all__ = ["embedding", "tfidf"]
