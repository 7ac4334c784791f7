"""What every speech synthesizer shares: speaking a text sentence by sentence, with pauses.

A `Synthesizer` implements only `synthesize` (one sentence, blocking); `speak` splits a text
into sentences and yields each one's audio as soon as it is made, so a caller can play the first
sentence while the next is synthesized. Adding an engine is one class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from assistant.text.sentences import split_first_clause, split_sentences
from assistant.text.spoken import speakable

BYTES_PER_SAMPLE = 2  # 16-bit little-endian mono PCM


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one text is spoken: what `speak` honours."""

    length_scale: float = 1.0  # speaking time: 1.0 normal, >1 slower, <1 faster
    sentence_pause_ms: int = 250  # silence between sentences (not after the last one)


@dataclass(frozen=True, slots=True)
class SpokenSentence:
    """One sentence's audio: 16-bit LE mono PCM, with the pauses `speak` added."""

    text: str  # the sentence (or a long one's first clause) as written: what a screen shows
    pcm: bytes
    sample_rate: int
    last: bool  # the text's last sentence


class Synthesizer(ABC):
    """A loaded voice. Blocking: callers with an event loop run it in a worker thread."""

    # Engines set the real rate when they load; it is the rate of every `synthesize` result.
    sample_rate: int = 22_050

    @abstractmethod
    def synthesize(self, text: str, length_scale: float = 1.0) -> bytes:
        """Speak one sentence as given: 16-bit LE mono PCM at `sample_rate`."""

    def speak(
        self,
        text: str,
        delivery: Delivery | None = None,
        *,
        pause_first: bool = False,
        first_clause: bool = True,
    ) -> Iterator[SpokenSentence]:
        """`text` sentence by sentence, each synthesized when it is asked for. A pause follows
        every sentence but the last (after it, it would only delay knowing the text is fully
        spoken); `pause_first` puts one before the first, for text that continues earlier
        speech. With `first_clause`, a long first sentence is spoken as its first clause and
        then the rest (half a pause between), so the first audio comes sooner. Nothing is
        yielded for a text without words."""
        delivery = delivery or Delivery()
        pieces = [(s, True) for s in split_sentences(text)]
        if pieces and first_clause:
            clauses = split_first_clause(pieces[0][0])
            pieces[:1] = [(c, i == len(clauses) - 1) for i, c in enumerate(clauses)]
        last = len(pieces) - 1
        for index, (piece, ends_sentence) in enumerate(pieces):
            pcm = self.synthesize(speakable(piece), delivery.length_scale)
            pause_ms = delivery.sentence_pause_ms // (1 if ends_sentence else 2)
            if index == 0 and pause_first:
                pcm = silence(self.sample_rate, delivery.sentence_pause_ms) + pcm
            if index < last:
                pcm += silence(self.sample_rate, pause_ms)
            yield SpokenSentence(piece, pcm, self.sample_rate, last=index == last)


def silence(sample_rate: int, milliseconds: int) -> bytes:
    """Zeroed 16-bit PCM of the given length."""
    return bytes(BYTES_PER_SAMPLE * (sample_rate * milliseconds // 1000))
