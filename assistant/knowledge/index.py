"""Answers questions from the user's own documents (`--knowledge PATH`: a .md/.txt file or a
folder of them).

Documents are cut into short passages (a markdown section's paragraph, 1-3 sentences). Each
passage is embedded with the shared MiniLM encoder, and so is each of its sentences, all with the
section headings prefixed. A passage scores the best cosine similarity of these with the
question: a long passage dilutes the one sentence that answers, a lone sentence loses the topic
its neighbours gave it, and taking the better of the two scored higher on answerable questions
without lifting unrelated ones (benchmarks/knowledge.py). The best passage answers, shortened
for speech to its sentences closest to the question; below a threshold there is no answer, so
the assistant says it does not know instead of guessing.

Embeddings are cached per file on disk. An unchanged file is recognised by its size and mtime
without being read; a file whose mtime changed but whose content did not (a `touch`, a checkout)
is recognised by its sha1. Either way nothing is embedded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from assistant.text.sentences import split_sentences
from assistant.text.spoken import SPOKEN, SpokenLength

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
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

CHUNKER_VERSION = 1  # bump whenever passages or their embedding text change: invalidates caches
DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
MAX_FILE_BYTES = 5_000_000  # larger "documents" are almost always logs or dumps, not notes
PASSAGE_SENTENCES = 3
PASSAGE_CHARS = 300
TITLE_CHARS = 60  # a lone line up to this long, without a full stop, titles a text file's section
CACHE_SUBDIR = "knowledge"


class KnowledgeError(Exception):
    """The knowledge path cannot be used (it does not exist). The message is one line."""


class Encoder(Protocol):
    """What the index needs from a sentence encoder (`SentenceEncoder` fits)."""

    model_dir: Path

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Vectors: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Passage:
    sentences: tuple[str, ...]  # markdown-free, as they may be spoken
    headings: tuple[str, ...]  # the enclosing section headings, outermost first
    source_path: Path

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    @property
    def heading(self) -> str:
        return self.headings[-1] if self.headings else ""

    def embedding_texts(self) -> list[str]:
        """The whole passage, then each sentence if there are several, all prefixed with the
        headings: they carry the topic that sentences often leave implicit ("It should read
        1.5 bar" under "Heating"). A headingless text file gets its name instead."""
        context = " > ".join(self.headings) or _title_from_stem(self.source_path)
        sentences = self.sentences if len(self.sentences) > 1 else ()
        return [f"{context}: {part}" for part in (self.text, *sentences)]

    def unit_count(self) -> int:
        return 1 + (len(self.sentences) if len(self.sentences) > 1 else 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class KnowledgeAnswer:
    text: str  # fits `SPOKEN` (assistant.text.spoken), like every spoken reply
    source_path: Path
    score: float  # cosine similarity of the question and the passage
    heading: str  # the passage's section heading, "" if it has none


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float


# --- markdown to plain passages ------------------------------------------------------------------

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:\s*\1){2,}\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(?:\[[ xX]\]\s+)?")
_QUOTE = re.compile(r"^ {0,3}>\s?")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+")
_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.DOTALL)
_TERMINAL = tuple(".!?…:;")

_INLINE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # image -> alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url) -> text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref] -> text
    (re.compile(r"\[\^[^\]]+\]"), ""),  # footnote reference
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),  # autolink
    (re.compile(r"</?[A-Za-z][^>]*>"), ""),  # inline html
    (re.compile(r"`+([^`]+?)`+"), r"\1"),  # code ticks
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *italic*
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),  # _italic_, not snake_case
    (re.compile(r"~~(.+?)~~"), r"\1"),  # strikethrough
]
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")
_PRIVATE_USE = 0xE000  # escaped characters hide here while the patterns above run


def strip_inline_markdown(text: str) -> str:
    """Plain text of one markdown line or paragraph: links become their text, emphasis and code
    ticks go, whitespace is collapsed."""
    text = _ESCAPED.sub(lambda m: chr(_PRIVATE_USE + ord(m.group(1))), text)
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    text = re.sub("[\ue000-\ue07f]", lambda m: chr(ord(m.group()) - _PRIVATE_USE), text)
    return " ".join(text.split())


@dataclass
class _Block:
    """One paragraph, list or table being read: its items become sentences."""

    items: list[str] = field(default_factory=list)
    plain_lines: int = 0  # lines of running text, for setext headings

    def add(self, line: str, *, new_item: bool) -> None:
        if new_item or not self.items:
            self.items.append(line)
        else:
            self.items[-1] += " " + line

    def is_single_line(self) -> bool:
        return len(self.items) == 1 and self.plain_lines == 1

    def is_title(self) -> bool:
        title = self.items[0] if self.is_single_line() else ""
        return 0 < len(title) <= TITLE_CHARS and not title.endswith(_TERMINAL)

    def text(self) -> str:
        sentences = []
        for item in self.items:
            plain = strip_inline_markdown(item)
            if plain:
                # A list item or table row reads as a sentence of its own.
                sentences.append(plain if plain.endswith(_TERMINAL) else plain + ".")
        return " ".join(sentences)


class _SectionReader:
    """Reads a document line by line into (headings, paragraph text) pairs."""

    def __init__(self, *, plain_text: bool) -> None:
        self.plain_text = plain_text
        self.headings: list[tuple[int, str]] = []
        self.block = _Block()
        self.in_fence = False
        self.out: list[tuple[tuple[str, ...], str]] = []

    def set_heading(self, level: int, title: str) -> None:
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        plain = strip_inline_markdown(title)
        if plain:
            self.headings.append((level, plain))

    def flush(self) -> None:
        block, self.block = self.block, _Block()
        if not block.items:
            return
        if self.plain_text and block.is_title():
            # Text files have no heading syntax; a short unpunctuated line alone is their
            # heading. It stays a passage too, so nothing written is lost.
            self.set_heading(1, block.items[0])
        self.out.append((tuple(title for _, title in self.headings), block.text()))

    def line(self, line: str) -> None:
        if _FENCE.match(line):
            self.flush()  # a code block is a paragraph of its own
            self.in_fence = not self.in_fence
        elif self.in_fence:
            if line.strip():
                self.block.add(line.strip(), new_item=True)  # code is spoken line by line
        elif self._setext(line):
            title = self.block.items[0]
            self.block = _Block()
            self.set_heading(1 if line.strip()[0] == "=" else 2, title)
        elif not line.strip() or _RULE.match(line):
            self.flush()
        elif heading := _ATX_HEADING.match(line):
            self.flush()
            self.set_heading(len(heading.group(1)), heading.group(2))
        elif not (_LINK_DEFINITION.match(line) or _TABLE_SEPARATOR.match(line)):
            self._content(_QUOTE.sub("", line))

    def _setext(self, line: str) -> bool:
        """An underline of === or --- below a one-line paragraph makes it a heading."""
        return bool(_SETEXT_UNDERLINE.match(line)) and self.block.is_single_line()

    def _content(self, line: str) -> None:
        if bullet := _BULLET.match(line):
            self.block.add(line[bullet.end() :].strip(), new_item=True)
        elif line.lstrip().startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            self.block.add(", ".join(cell for cell in cells if cell), new_item=True)
        else:
            self.block.add(line.strip(), new_item=False)
            self.block.plain_lines += 1


def iter_sections(text: str, *, plain_text: bool = False) -> list[tuple[tuple[str, ...], str]]:
    """(headings, paragraph text) for each paragraph, list or table of a markdown document,
    markdown removed. Text files (`plain_text`) go through here too: they rarely contain anything
    markdown would misread, and their bullets and emphasis are noise in speech as well."""
    reader = _SectionReader(plain_text=plain_text)
    for line in _FRONT_MATTER.sub("", text).splitlines():
        reader.line(line)
    reader.flush()
    return reader.out


def split_long(sentence: str, limit: int) -> list[str]:
    """A sentence longer than `limit` characters, in pieces cut between words."""
    pieces: list[str] = []
    words: list[str] = []
    for word in sentence.split():
        if words and len(" ".join([*words, word])) > limit:
            pieces.append(" ".join(words))
            words = []
        words.append(word)
    if words:
        pieces.append(" ".join(words))
    return pieces


def pack_sentences(
    sentences: Sequence[str], max_sentences: int = PASSAGE_SENTENCES, max_chars: int = PASSAGE_CHARS
) -> list[tuple[str, ...]]:
    """Consecutive sentences grouped into passages of at most `max_sentences` sentences and
    `max_chars` characters (a longer sentence is cut between words)."""
    passages: list[tuple[str, ...]] = []
    group: list[str] = []
    for sentence in (piece for s in sentences for piece in split_long(s, max_chars)):
        if group and (len(group) >= max_sentences or len(" ".join([*group, sentence])) > max_chars):
            passages.append(tuple(group))
            group = []
        group.append(sentence)
    if group:
        passages.append(tuple(group))
    return passages


def chunk_document(text: str, source_path: Path) -> list[Passage]:
    passages = []
    plain_text = source_path.suffix.lower() == ".txt"
    for headings, paragraph in iter_sections(text, plain_text=plain_text):
        for sentences in pack_sentences(split_sentences(paragraph)):
            passages.append(
                Passage(sentences=sentences, headings=headings, source_path=source_path)
            )
    return passages


def _title_from_stem(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip()


# --- the spoken answer ---------------------------------------------------------------------------


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


# --- the on-disk cache ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CacheEntry:
    meta: dict[str, Any]
    vectors: Vectors

    def passages(self, path: Path) -> list[Passage]:
        return [
            Passage(sentences=tuple(sentences), headings=tuple(headings), source_path=path)
            for headings, sentences in self.meta["passages"]
        ]


class _EmbeddingCache:
    """One .npz per document (its passages and their vectors), replaced atomically, so a crash
    or a second process never leaves a half-written entry behind."""

    def __init__(self, folder: Path, model_id: str) -> None:
        self.folder = folder
        self.model_id = model_id

    def _entry_path(self, path: Path) -> Path:
        key = f"{path}\0{self.model_id}\0{CHUNKER_VERSION}"
        return self.folder / f"{hashlib.sha1(key.encode()).hexdigest()[:24]}.npz"

    def read(self, path: Path) -> _CacheEntry | None:
        entry_path = self._entry_path(path)
        if not entry_path.is_file():
            return None
        try:
            with np.load(entry_path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                vectors = np.asarray(data["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.debug("ignoring unreadable cache entry %s: %s", entry_path, exc)
            return None
        same_source = (
            meta.get("path") == str(path)
            and meta.get("model") == self.model_id
            and meta.get("chunker") == CHUNKER_VERSION
        )
        if not same_source:
            return None
        entry = _CacheEntry(meta, vectors)
        units = sum(p.unit_count() for p in entry.passages(path))
        return entry if units == len(vectors) else None

    def write(self, path: Path, meta: dict[str, Any], vectors: Vectors) -> None:
        entry_path = self._entry_path(path)
        meta = {**meta, "path": str(path), "model": self.model_id, "chunker": CHUNKER_VERSION}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=entry_path.stem, suffix=".tmp")
        except OSError as exc:
            # A read-only cache costs time on the next start, never the answers.
            log.warning("cannot write the knowledge cache in %s: %s", self.folder, exc)
            return
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, vectors=vectors, meta=np.array(json.dumps(meta)))
            os.replace(tmp, entry_path)
        except OSError as exc:
            log.warning("cannot write the knowledge cache in %s: %s", self.folder, exc)
            with suppress(OSError):
                os.unlink(tmp)


# --- finding and reading documents ---------------------------------------------------------------


def find_documents(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """The documents named by `paths`: files as given, folders searched recursively for
    .md/.txt (hidden folders skipped). Sorted, without duplicates."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise KnowledgeError(f"knowledge path not found: {path}")
        if path.is_dir():
            documents = _documents_in(path)
            if not documents:
                log.warning("no .md or .txt documents in %s", path)
            found.update(dict.fromkeys(documents))
        else:
            found[path.resolve()] = None
    return list(found)


def _documents_in(folder: Path) -> list[Path]:
    def report(error: OSError) -> None:
        log.warning("skipping %s: %s", error.filename, error.strerror)

    documents = []
    seen: set[str] = set()
    for root, dirs, files in os.walk(folder, onerror=report, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symlink back up the tree would otherwise be walked forever
            dirs.clear()
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if path.suffix.lower() in DOCUMENT_SUFFIXES and not name.startswith("."):
                documents.append(path.resolve())
    return documents


def read_text(path: Path) -> tuple[str, str] | None:
    """(text, content sha1) of a utf-8 document, or None with a warning if it cannot be used."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            log.warning("skipping %s: larger than %d MB", path, MAX_FILE_BYTES // 1_000_000)
            return None
        data = path.read_bytes()
    except OSError as exc:
        log.warning("skipping %s: %s", path, exc.strerror or exc)
        return None
    if b"\0" in data[:8192]:
        log.warning("skipping %s: not a text file", path)
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.warning("skipping %s: not utf-8 text", path)
        return None
    return text, hashlib.sha1(data).hexdigest()


# --- the index -----------------------------------------------------------------------------------


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
        cache = _EmbeddingCache(cache_dir / CACHE_SUBDIR, model_id) if cache_dir else None
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
        if len(sentences) > 1 and not SPOKEN.fits(sentences):
            # Too long to speak whole: the sentences closest to the question, by their vectors.
            first = self._first[index] + 1
            scores = [float(s) for s in unit_scores[first : first + len(sentences)]]
            start, end = best_window(sentences, scores)
            sentences = sentences[start:end]
        return " ".join(SPOKEN.cap(sentences))  # a lone sentence too long for it is cut


def _embed_passages(encoder: Encoder, passages: Sequence[Passage]) -> Vectors:
    """One vector per embedding unit (`Passage.embedding_texts`), in passage order."""
    if not passages:
        return np.zeros((0, 0), dtype=np.float32)
    return encoder.encode([t for p in passages for t in p.embedding_texts()], batch_size=32)


def _index_file(path: Path, encoder: Encoder, cache: _EmbeddingCache | None) -> _Indexed | None:
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
