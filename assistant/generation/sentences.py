"""A generation handed out sentence by sentence, while the model is still writing.

`SentenceStream` drives a `Generator`'s stream of text pieces and gives out each sentence as
soon as it is certainly finished, capped for speech exactly like `cap_for_speech` would cap the
whole text: the same cleaning, as much as fits the `SpokenLength`, a trailing fragment dropped
when the token limit cut it. Once the cap is reached the model is stopped
(its stream is closed), so no time goes into words nobody will hear. A sentence the caller's
`keep` refuses (one that states a fact, in small talk) ends the reply the same way.

A sentence counts as finished once its end is certain: the model has written a space after it
and the splitter would end it there whatever word comes next ("there. " is an end, "etc. " is
one only before a capital), text follows it, or the generation ends. Text after a bracket
still open is held back until it closes: an aside in brackets is dropped whole.

Blocking: call `next_sentence` and `close` from one thread, the one that runs the model (a
stage's worker thread through `Stage.run_blocking`); a generator cannot be closed by one thread
while another runs it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence

from assistant.generation.llm import Generator
from assistant.generation.speech_cap import SpeechCap, clean_for_speech, close_fragment
from assistant.text.sentences import split_sentences
from assistant.text.spoken import SPOKEN, SpokenLength

_OPENERS = {"(": ")", "[": "]"}


class SentenceStream:
    """One generation of `generator` for `prompt`, as speakable sentences.

    The model starts on the first `next_sentence` call, not before. `sentences` holds what was
    handed out so far and `text` joins it: what the assistant said.
    """

    def __init__(
        self,
        generator: Generator,
        prompt: str,
        *,
        max_tokens: int,
        stop: Sequence[str],
        temperature: float,
        length: SpokenLength = SPOKEN,
        keep: Callable[[str], bool] | None = None,
    ) -> None:
        self.generator = generator
        # A sentence `keep` refuses ends the reply there: it and what follows are not said.
        self.keep = keep
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.stop = tuple(stop)
        self.temperature = temperature
        self.sentences: list[str] = []
        self._cap = SpeechCap(length)
        self._pieces: Iterator[str] | None = None
        self._raw = ""  # everything the model wrote so far
        self._offered = 0  # sentences of the cleaned text already offered to the cap
        self._ready: deque[str] = deque()  # kept, not handed out yet
        self._ended = False  # the model has stopped: finished, capped or closed

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    @property
    def finished(self) -> bool:
        """No further sentence will come: `next_sentence` would return None."""
        return self._ended and not self._ready

    def next_sentence(self) -> str | None:
        """The next sentence to say, once it is finished; None when there is none left.
        Blocks while the model writes."""
        while not self._ready:
            if self._ended:
                return None
            if self._pieces is None:
                self._pieces = iter(
                    self.generator.generate(
                        self.prompt,
                        max_tokens=self.max_tokens,
                        stop=self.stop,
                        temperature=self.temperature,
                    )
                )
            try:
                piece = next(self._pieces)
            except StopIteration:
                self._scan(final=True)
            except BaseException:
                self._ended = True  # the model failed: nothing more will come
                raise
            else:
                self._raw += piece
                self._scan(final=False)
        sentence = self._ready.popleft()
        self.sentences.append(sentence)
        return sentence

    def close(self) -> None:
        """Stop the model (closing its stream frees it) and drop what was not handed out;
        idempotent."""
        self._ready.clear()
        self._stop()

    def _stop(self) -> None:
        self._ended = True
        pieces, self._pieces = self._pieces, None
        close = getattr(pieces, "close", None)
        if close is not None:
            close()

    def _scan(self, *, final: bool) -> None:
        """Offer the sentences of the text so far that are certainly finished to the cap."""
        raw = self._raw if final else _settled(self._raw)
        text, ended = clean_for_speech(raw)
        sentences = split_sentences(text)
        growing = ""  # the sentence still being written
        if final or ended:
            # The generation is over (or the transcript's next turn began): the last sentence
            # is finished too, or it is a fragment the token limit cut.
            complete = ended or self.generator.finish_reason == "stop"
            sentences = close_fragment(sentences, complete=complete)
        elif sentences and not (raw[-1:].isspace() and _ends_sentence(text, sentences)):
            growing = sentences.pop()
        for sentence in sentences[self._offered :]:
            self._offered += 1
            if self.keep is not None and not self.keep(sentence):
                self._stop()
                return
            spoken = self._cap.offer(sentence)
            if spoken is not None:
                self._ready.append(spoken)
            if self._cap.full:
                break
        capped = self._cap.full or (
            # Whatever the sentence being written grows into would pass the length cap (unless
            # it is a repeat, which is skipped).
            bool(growing)
            and self._cap.overflows(growing)
            and growing.lower() != self._cap.kept[-1].lower()
        )
        if final or ended or capped:
            self._stop()


def _ends_sentence(text: str, sentences: list[str]) -> bool:
    """Whether the last of `sentences` (of `text`, which the model followed with a space) ends
    there, whatever the next word is: "there." does, "etc." only before a capital."""
    return all(split_sentences(f"{text} {word}") == [*sentences, word] for word in ("and", "And"))


def _settled(raw: str) -> str:
    """`raw` up to the first bracket still open: what follows it may turn out to be an aside
    ("(smiles)") or a link, dropped or changed once the bracket closes."""
    expected: list[str] = []
    start = -1
    for index, char in enumerate(raw):
        if char in _OPENERS:
            if not expected:
                start = index
            expected.append(_OPENERS[char])
        elif expected and char == expected[-1]:
            expected.pop()
    return raw[:start] if expected else raw
