"""The user's documents as short plain passages, the unit the knowledge index embeds and
answers from.

Markdown is read section by section and removed (headings, emphasis, links, lists, tables,
code fences), so what is embedded is what may be spoken. Each paragraph, list or table is cut
into passages of 1-3 sentences that keep the section headings above them: a long passage
dilutes the one sentence that answers, and the headings carry the topic that sentences often
leave implicit. Text files go through the same reader; a short unpunctuated line alone is their
heading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.text.sentences import split_sentences

CHUNKER_VERSION = 1  # bump whenever passages or their embedding text change: invalidates caches
PASSAGE_SENTENCES = 3
PASSAGE_CHARS = 300
TITLE_CHARS = 60  # a lone line up to this long, without a full stop, titles a text file's section


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
