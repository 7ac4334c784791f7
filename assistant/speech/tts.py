"""What every speech synthesizer shares: speaking a text sentence by sentence, with pauses.

A `Synthesizer` implements only `synthesize` (one sentence, blocking); `speak` splits a text
into sentences and yields each one's audio as soon as it is made, so a caller can play the first
sentence while the next is synthesized. Adding an engine is one class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from assistant.text.sentences import split_sentences
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

    text: str  # the sentence as written (what a screen shows)
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
        self, text: str, delivery: Delivery | None = None, *, pause_first: bool = False
    ) -> Iterator[SpokenSentence]:
        """`text` sentence by sentence, each synthesized when it is asked for. A pause follows
        every sentence but the last (after it, it would only delay knowing the text is fully
        spoken); `pause_first` puts one before the first, for text that continues earlier
        speech. Nothing is yielded for a text without words."""
        delivery = delivery or Delivery()
        sentences = split_sentences(text)
        last = len(sentences) - 1
        for index, sentence in enumerate(sentences):
            pcm = self.synthesize(speakable(sentence), delivery.length_scale)
            pause = silence(self.sample_rate, delivery.sentence_pause_ms)
            if index == 0 and pause_first:
                pcm = pause + pcm
            if index < last:
                pcm += pause
            yield SpokenSentence(sentence, pcm, self.sample_rate, last=index == last)


def silence(sample_rate: int, milliseconds: int) -> bytes:
    """Zeroed 16-bit PCM of the given length."""
    return bytes(BYTES_PER_SAMPLE * (sample_rate * milliseconds // 1000))
