"""A knowledge answer as the assistant speaks it: the best passage, shortened for speech.

A passage that fits `SPOKEN` (assistant.text.spoken), like every spoken reply, is said whole.
A longer one is cut to its consecutive sentences closest to the question, by the similarity of
each sentence's own vector; a lone sentence too long for it is cut by `SPOKEN`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.text.spoken import SPOKEN, SpokenLength


@dataclass(frozen=True, slots=True, kw_only=True)
class KnowledgeAnswer:
    text: str  # fits `SPOKEN` (assistant.text.spoken), like every spoken reply
    source_path: Path
    score: float  # cosine similarity of the question and the passage
    heading: str  # the passage's section heading, "" if it has none


def best_window(
    sentences: Sequence[str], scores: Sequence[float], length: SpokenLength = SPOKEN
) -> tuple[int, int]:
    """[start, end) of the consecutive sentences to speak: the run that fits `length` and
    holds the sentence most similar to the question (then the most similar run overall)."""
    best: tuple[int, int] = (0, 1)
    best_key = (float("-inf"), float("-inf"))
    for start in range(len(sentences)):
        for end in range(start + 1, min(start + length.max_sentences, len(sentences)) + 1):
            if end - start > 1 and not length.fits(sentences[start:end]):
                break
            window = scores[start:end]
            key = (max(window), sum(window))
            if key > best_key:
                best, best_key = (start, end), key
    return best


def spoken_text(sentences: Sequence[str], sentence_scores: Sequence[float]) -> str:
    """The text to speak of a passage's `sentences`, given each one's similarity to the
    question (read only when the passage is too long to speak whole)."""
    if len(sentences) > 1 and not SPOKEN.fits(sentences):
        start, end = best_window(sentences, sentence_scores)
        sentences = sentences[start:end]
    return " ".join(SPOKEN.cap(sentences))  # a lone sentence too long for it is cut
