"""Capping a generated reply for speech.

A small base model writes past its answer: the transcript's next "User:" turn, markdown, emoji,
asides in brackets, and a last sentence cut by the token limit. `cap_for_speech` turns a raw
generation into something fit to be spoken: the whole sentences that fit a `SpokenLength`, as
plain text on one line. `SentenceStream` (in `sentences`) does the same sentence by sentence
while the model writes, from the same parts: `clean_for_speech`, `close_fragment` and
`SpeechCap`.
"""

from __future__ import annotations

import re

from assistant.text.sentences import split_sentences
from assistant.text.spoken import SPOKEN, SpokenLength

# A base model keeps writing the transcript: the next "User:" line (or a "Note:" like the
# prompt's) is not part of the reply.
_ECHO = re.compile(
    r"(?:^|(?<=\s))(?:User|USER|Assistant|ASSISTANT|Human|AI|Bot)\s*:|(?:^|\n)\s*Note\s*:"
)
_LEADING_LABEL = re.compile(r"^\s*(?:Assistant|ASSISTANT|AI|Bot)\s*:\s*")
_CODE_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"</?[A-Za-z_][^<>]*>")
# "(Smiles.)", "[laughs]": stage directions, or the prompt's own "(context)" line echoed back.
_ASIDE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_LINE_MARKUP = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+•]\s+|\d{1,2}[.)]\s+)", re.M)
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|`+|~~)")
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, ...
    "\u2600-\u27bf"  # miscellaneous symbols and dingbats
    "\u2b00-\u2bff"  # arrows and stars
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, joiner, keycap
    "\U000e0020-\U000e007f"  # tag characters (subdivision flags)
    "]+"
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


def cap_for_speech(text: str, length: SpokenLength = SPOKEN, *, complete: bool = False) -> str:
    """The whole sentences of `text` that fit `length` (a lone overlong one is cut), as plain
    speakable text: no markup, emoji, line breaks, or the transcript's next turn.

    A trailing fragment without end punctuation was probably cut by the token limit and is
    dropped, unless `complete` says the generation ended on its own (end of text or a stop
    string) or a following turn marker shows the reply had ended; then it counts as a sentence.
    Asides in brackets are dropped too: spoken, they sound like part of the answer.
    Returns "" when nothing speakable is left.
    """
    text, ended = clean_for_speech(text)
    sentences = close_fragment(split_sentences(text), complete=complete or ended)
    cap = SpeechCap(length)
    for sentence in sentences:
        cap.offer(sentence)
        if cap.full:
            break
    return " ".join(cap.spoken)


def clean_for_speech(text: str) -> tuple[str, bool]:
    """`text` as plain speakable text on one line (see `cap_for_speech`), and whether a
    following turn marker (the transcript's next "User:") showed where the reply ended."""
    text = _LEADING_LABEL.sub("", text)
    echo = _ECHO.search(text)
    if echo:
        text = text[: echo.start()]
    text = _CODE_FENCE.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _ASIDE.sub(" ", text)
    text = _LINE_MARKUP.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _EMOJI.sub("", text)
    return " ".join(text.split()), echo is not None


def close_fragment(sentences: list[str], *, complete: bool) -> list[str]:
    """`sentences` without a last one that has no end punctuation (probably cut by the token
    limit), or with it closed by a period when the generation is `complete`."""
    if not sentences or _SENTENCE_END.search(sentences[-1]):
        return sentences
    fragment = sentences[-1].rstrip(" ,;:-–—")
    kept = sentences[:-1]
    if complete and fragment and any(c.isalnum() for c in fragment):
        kept.append(fragment + ".")
    return kept


class SpeechCap:
    """The sentences of a reply kept for speech, offered one at a time: as many as fit
    `length` (see `SpokenLength.cap`), a sentence repeated at once said once."""

    def __init__(self, length: SpokenLength = SPOKEN) -> None:
        self.length = length
        self.kept: list[str] = []  # as offered
        self.spoken: list[str] = []  # as said: an overlong first sentence is cut
        self.full = False  # nothing more will be kept

    def offer(self, sentence: str) -> str | None:
        """The sentence as it is to be said, or None when it is not kept (a repeat, or past
        the cap: then `full` is set)."""
        if self.full:
            return None
        if self.kept and sentence.lower() == self.kept[-1].lower():
            return None  # base models repeat themselves; say it once
        said = self.length.cap([sentence], after=self.kept)
        if not said:
            self.full = True
            return None
        self.kept.append(sentence)
        self.spoken.append(said[0])
        # A cut sentence trails off: nothing is said after it.
        self.full = said[0] != sentence or len(self.kept) >= self.length.max_sentences
        return said[0]

    def overflows(self, sentence: str) -> bool:
        """Whether `sentence` (or anything it grows into) would not fit after the sentences
        kept; a first sentence never overflows: it is cut instead."""
        return bool(self.kept) and not self.length.fits([*self.kept, sentence])
