"""Text as it should be spoken: what reads fine on a screen but not aloud, and how much of it
a listener can take in at once (`SpokenLength`, with the one default `SPOKEN`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# A word the response filter masked ("s***": first letter, the rest starred). Read as it
# stands, TTS says "s asterisk asterisk asterisk"; aloud it is bleeped, as on the radio.
MASKED_WORD = re.compile(r"\b[^\W\d_]\*+(?![\w*])")
BLEEP = "bleep"

# Where a cut sentence may end early, best first: a clause boundary reads as a pause.
_CLAUSE_MARKS = (", ", "; ", ": ", " - ", " – ", " — ")
_DANGLING = " ,;:-–—"
# A cut sentence is unfinished and says so: on screen, and aloud Piper reads it without the
# falling close it gives a full stop.
CUT_MARK = "…"


def speakable(text: str) -> str:
    return MASKED_WORD.sub(BLEEP, text)


@dataclass(frozen=True, slots=True)
class SpokenLength:
    """How much is said at once: at most `max_sentences` sentences and, when `max_chars` is
    set, about that many characters. Heard, not read, a reply cannot be skimmed: what is past
    the cap is dropped, and a lone sentence too long for it is cut."""

    max_sentences: int
    max_chars: int | None = None  # None: sentences are kept whole, however long

    def __post_init__(self) -> None:
        if self.max_sentences < 1 or (self.max_chars is not None and self.max_chars < 1):
            raise ValueError(f"a spoken length needs positive limits, not {self}")

    def fits(self, sentences: Sequence[str]) -> bool:
        """Whether these sentences may be said whole, one after the other."""
        if len(sentences) > self.max_sentences:
            return False
        return self.max_chars is None or len(" ".join(sentences)) <= self.max_chars

    def cut(self, sentence: str) -> str:
        """`sentence` shortened to `max_chars` if longer: at a clause boundary in its second
        half, else between words, ended with `CUT_MARK`. Shorter ones come back as they are."""
        if self.max_chars is None or len(sentence) <= self.max_chars:
            return sentence
        head = sentence[: self.max_chars - len(CUT_MARK)]
        clause = max(head.rfind(mark) for mark in _CLAUSE_MARKS)
        end = clause if clause >= self.max_chars // 2 else head.rfind(" ")
        return head[: end if end > 0 else len(head)].rstrip(_DANGLING) + CUT_MARK

    def cap(self, sentences: Iterable[str], after: Sequence[str] = ()) -> list[str]:
        """The leading `sentences` that may still be said after the `after` ones (said
        already): as many as fit. A first sentence too long alone is cut, and nothing follows
        it: a sentence trailing off ends the reply."""
        kept: list[str] = []
        for sentence in sentences:
            if not after and not kept:
                kept.append(self.cut(sentence))
                if kept[0] != sentence:
                    break
            elif self.fits([*after, *kept, sentence]):
                kept.append(sentence)
            else:
                break
        return kept


# A spoken reply is short: two sentences, about one breath of text. Generated replies and
# answers from documents alike: the cap is for the listener, whatever the source.
SPOKEN = SpokenLength(max_sentences=2, max_chars=220)
