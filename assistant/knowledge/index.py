"""The knowledge index: answers questions from the user's own documents (`--knowledge PATH`).

The documents' passages (`assistant.knowledge.passages`) are embedded with the shared MiniLM
encoder: each passage whole, and each of its sentences, all with the section headings prefixed.
A passage scores the best cosine similarity of these with the question: a long passage dilutes
the one sentence that answers, a lone sentence loses the topic its neighbours gave it, and
taking the better of the two scored higher on answerable questions without lifting unrelated
ones (benchmarks/knowledge.py). The best passage answers, shortened for speech
(`assistant.knowledge.answer`); below a threshold there is no answer, so the assistant says it
does not know instead of guessing.

Building reads each document (`assistant.knowledge.documents`) only when the on-disk cache
(`assistant.knowledge.cache`) cannot vouch for it, and embeds it only when its content changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.knowledge.answer import KnowledgeAnswer, spoken_text
from assistant.knowledge.cache import CACHE_SUBDIR, EmbeddingCache, Vectors
from assistant.knowledge.documents import find_documents, read_text
from assistant.knowledge.passages import Passage, chunk_document

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

DEFAULT_THRESHOLD = 0.45
"""Cosine similarity below which a question counts as unanswered. On the documents in
tests/data/knowledge, 34 paraphrased answerable questions scored 0.40-0.86 (median 0.61) and 32
unrelated ones 0.05-0.43, except a near miss at 0.47 ("the password for the alarm" when only the
wifi password is written down). At 0.45, 31 of 34 are answered (30 from the right passage)
and 31 of 32 declined; at 0.40 all 34 are answered, but so is "how do I reset my phone" (0.43,
from the boiler section) and "what time is it" (0.398) nearly. Answering wrongly is worse than
"I don't know", so the threshold sits above the unrelated questions (benchmarks/knowledge.py
measures all of this)."""


class Encoder(Protocol):
    """What the index needs from a sentence encoder (`SentenceEncoder` fits)."""

    model_dir: Path

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Vectors: ...


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float


@dataclass(frozen=True, slots=True)
class _Indexed:
    passages: list[Passage]
    vectors: Vectors
    embedded: int  # passages embedded now, 0 when the cache had them


class KnowledgeIndex:
    """The passages of the user's documents and their embeddings; see the module docstring."""

    def __init__(
        self,
        encoder: Encoder,
        passages: list[Passage],
        vectors: Vectors,
        *,
        files: Sequence[Path] = (),
        skipped: Sequence[Path] = (),
        embedded_count: int = 0,
    ) -> None:
        counts = [p.unit_count() for p in passages]
        if sum(counts) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors for {sum(counts)} embedding units")
        self.encoder = encoder
        self.passages = passages
        self.vectors = vectors  # Passage.embedding_texts of every passage, in order
        # Which passage each vector belongs to, and where each passage's vectors begin.
        self._owner = np.repeat(np.arange(len(passages)), counts)
        self._first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
        self.files = list(files)  # the documents that were indexed
        self.skipped = list(skipped)  # unreadable, binary or too large
        self.embedded_count = embedded_count  # passages embedded by this build (not cached)

    @classmethod
    def build(
        cls,
        paths: Path | str | Iterable[Path | str],
        encoder: Encoder,
        cache_dir: Path | None = None,
        progress: Progress | None = None,
    ) -> KnowledgeIndex:
        """Index the documents at `paths` (files or folders). Embeddings are cached in
        `cache_dir/knowledge/` (no caching if None). `progress(done, total)` is called before
        the first file and after each one. Raises KnowledgeError if a path does not exist."""
        documents = find_documents(paths)
        model_id = str(Path(encoder.model_dir).resolve())
        cache = EmbeddingCache(cache_dir / CACHE_SUBDIR, model_id) if cache_dir else None
        passages: list[Passage] = []
        vectors: list[Vectors] = []
        files: list[Path] = []
        skipped: list[Path] = []
        embedded = 0
        if progress:
            progress(0, len(documents))
        for done, path in enumerate(documents, 1):
            indexed = _index_file(path, encoder, cache)
            if indexed is None:
                skipped.append(path)
            else:
                files.append(path)
                embedded += indexed.embedded
                if indexed.passages:  # an empty document has no vectors to stack
                    passages.extend(indexed.passages)
                    vectors.append(indexed.vectors)
            if progress:
                progress(done, len(documents))
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        log.info(
            "knowledge: %d passages from %d documents (%d embedded, %d skipped)",
            len(passages),
            len(files),
            embedded,
            len(skipped),
        )
        return cls(encoder, passages, matrix, files=files, skipped=skipped, embedded_count=embedded)

    def __len__(self) -> int:
        return len(self.passages)

    def search(self, question: str, k: int = 3) -> list[Hit]:
        """The `k` passages most similar to `question`, best first."""
        scored = self._score(question)
        if scored is None:
            return []
        scores, _ = scored
        return [Hit(self.passages[i], float(scores[i])) for i in np.argsort(-scores)[:k]]

    def answer(self, question: str, threshold: float = DEFAULT_THRESHOLD) -> KnowledgeAnswer | None:
        """The best passage for `question`, shortened for speech; None if nothing in the
        documents is similar enough (then the assistant should say it does not know)."""
        scored = self._score(question)
        if scored is None:
            return None
        scores, unit_scores = scored
        best = int(np.argmax(scores))
        if scores[best] < threshold:
            return None
        passage = self.passages[best]
        return KnowledgeAnswer(
            text=self._spoken(best, unit_scores),
            source_path=passage.source_path,
            score=float(scores[best]),
            heading=passage.heading,
        )

    def _score(self, question: str) -> tuple[Vectors, Vectors] | None:
        """(score per passage, score per embedding unit), or None if there is nothing to ask."""
        if not self.passages or not question.strip():
            return None
        unit_scores = self.vectors @ self.encoder.encode([question])[0]
        scores = np.full(len(self.passages), -np.inf, dtype=np.float32)
        np.maximum.at(scores, self._owner, unit_scores)  # a passage scores its best unit
        return scores, unit_scores

    def _spoken(self, index: int, unit_scores: Vectors) -> str:
        sentences = self.passages[index].sentences
        # The passage's sentences have their own vectors right after the whole passage's.
        first = self._first[index] + 1
        scores = unit_scores[first : first + len(sentences)] if len(sentences) > 1 else ()
        return spoken_text(sentences, [float(s) for s in scores])


def _embed_passages(encoder: Encoder, passages: Sequence[Passage]) -> Vectors:
    """One vector per embedding unit (`Passage.embedding_texts`), in passage order."""
    if not passages:
        return np.zeros((0, 0), dtype=np.float32)
    return encoder.encode([t for p in passages for t in p.embedding_texts()], batch_size=32)


def _index_file(path: Path, encoder: Encoder, cache: EmbeddingCache | None) -> _Indexed | None:
    """One document's passages and vectors, from the cache when its content is unchanged;
    None if it cannot be read as text."""
    try:
        stat = path.stat()
    except OSError as exc:
        log.warning("skipping %s: %s", path, exc.strerror or exc)
        return None
    signature = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    entry = cache.read(path) if cache else None
    if entry and all(entry.meta.get(k) == v for k, v in signature.items()):
        return _Indexed(entry.passages(path), entry.vectors, 0)  # not even read
    read = read_text(path)
    if read is None:
        return None
    text, sha1 = read
    if cache and entry and entry.meta.get("sha1") == sha1:
        # Touched, not changed: keep the vectors, remember the new signature.
        cache.write(path, {**entry.meta, **signature}, entry.vectors)
        return _Indexed(entry.passages(path), entry.vectors, 0)
    passages = chunk_document(text, path)
    vectors = _embed_passages(encoder, passages)
    if cache:
        serialised = [[list(p.headings), list(p.sentences)] for p in passages]
        cache.write(path, {**signature, "sha1": sha1, "passages": serialised}, vectors)
    return _Indexed(passages, vectors, len(passages))
