"""Split a reply into sentences so speech can start after the first one is synthesized.

A candidate boundary is a run of `.`, `!`, `?` or `…` (with any closing quotes or brackets)
followed by whitespace; a period with no space after it ("3.5", "example.com") never is one.
Abbreviations and initials decide the rest. When in doubt the text is *not* split: a missed
boundary only makes one chunk a little longer, while a wrong one puts a pause inside a name.
"""

from __future__ import annotations

import re

# Never end a sentence: they always lead into more words ("Dr. Smith", "e.g. Paris").
_ALWAYS_CONTINUE = frozenset({"mr", "mrs", "ms", "dr", "prof", "rev", "vs", "e.g", "i.e", "cf"})

# End a sentence only when the next word is capitalised ("... and so on, etc. Then ...").
_CONTINUE_UNLESS_CAPITAL = frozenset(
    {"etc", "st", "no", "inc", "ltd", "co", "corp", "jr", "sr", "approx", "ave", "mt", "ft"}
)

_CANDIDATE = re.compile(r"(?P<mark>[.!?…]+)[\"'”’)\]]*\s+")
_LAST_WORD = re.compile(r"(\S+)$")
_OPENERS = "\"'“‘([«"
_PARAGRAPH = re.compile(r"\n\s*\n")


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, stripped, in order; [] for blank text."""
    sentences: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        sentences.extend(_split_paragraph(paragraph))
    return sentences


def _split_paragraph(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(text):
        following = text[match.end() :].lstrip(_OPENERS)
        if _is_boundary(match.group("mark"), text[start : match.start()], following):
            sentences.append(text[start : match.end()])
            start = match.end()
    sentences.append(text[start:])
    return [" ".join(s.split()) for s in sentences if s.strip()]


def _is_boundary(mark: str, before: str, following: str) -> bool:
    """Whether the punctuation `mark`, after the text `before`, ends a sentence."""
    next_is_capital = following[:1].isupper()
    if "?" in mark or "!" in mark:
        return True
    if mark.startswith("…") or mark.startswith(".."):
        # "Well... maybe later" trails off mid-sentence; "Hmm... Let me see." does not.
        return next_is_capital
    last = _LAST_WORD.search(before)
    word = last.group(1).lstrip(_OPENERS) if last else ""
    lowered = word.lower()
    if lowered in _ALWAYS_CONTINUE:
        return False
    if len(word) == 1 and word.isupper() and word != "I":
        return False  # an initial: "J. R. R. Tolkien"
    if lowered in _CONTINUE_UNLESS_CAPITAL or "." in word:
        return next_is_capital  # "5 p.m. tomorrow" continues, "the U.S. Then" does not
    return True


_CLAUSE_END = re.compile(r"[,;:]\s+")  # "1,000" and "3:30" have no space after the mark
LONG_SENTENCE_WORDS = 10
MIN_CLAUSE_WORDS = 4


def split_first_clause(sentence: str) -> list[str]:
    """A long sentence as [its first clause, the rest], so speech can start once the clause is
    synthesized; any other sentence as [sentence]. The cut is at the first comma, semicolon or
    colon that leaves at least MIN_CLAUSE_WORDS words on each side: a shorter piece would sound
    clipped, and a short sentence is quick to synthesize whole."""
    if len(sentence.split()) < LONG_SENTENCE_WORDS:
        return [sentence]
    for match in _CLAUSE_END.finditer(sentence):
        head, rest = sentence[: match.start() + 1].strip(), sentence[match.end() :].strip()
        if min(len(head.split()), len(rest.split())) >= MIN_CLAUSE_WORDS:
            return [head, rest]
    return [sentence]
