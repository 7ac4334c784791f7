"""Endpointing with Silero VAD v6: the ONNX model bundled in faster-whisper's wheel (no torch).

faster-whisper runs the model over a whole file at once; a live stream needs it chunk by chunk.
The model takes 512 new samples at 16 kHz, preceded by the last 64 samples of the previous
chunk (its context), plus its recurrent state (h, c), and returns the speech probability and the
next state. `SileroStream` keeps that context and state between calls, which gives the same
probabilities as faster-whisper's batch call over the whole file.

`Endpointer` turns probabilities into utterances with the rules of faster-whisper's
`get_speech_timestamps`: speech starts at a chunk >= `threshold`; it ends once the probability
has stayed below a lower threshold (`threshold - 0.15`, hysteresis) for `min_silence_ms`;
utterances shorter than `min_speech_ms` are noise; `speech_pad_ms` of audio is kept on each side.

`SileroEndpointer` puts both together for one stream of 16 kHz mono 16-bit PCM bytes: `feed`
returns `SpeechStart`s and `Utterance`s as they are decided, `finish` ends the stream. Speech is
announced only once it has lasted `min_speech_ms`, so every `SpeechStart` is followed by its
`Utterance`; an utterance may come without one (speech too short to announce before it ended).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.core.errors import MissingModelError

SAMPLE_RATE = 16_000
CHUNK = 512  # samples per model call: the only window Silero v6 takes at 16 kHz
CONTEXT = 64  # samples of the previous chunk the model sees before each window
_MODEL_INPUTS = {"input", "h", "c"}


@dataclass(frozen=True, slots=True)
class EndpointRules:
    """When speech starts and ends (the vad stage's parameters, with the same defaults)."""

    threshold: float = 0.5  # speech probability that starts speech
    min_silence_ms: int = 600  # silence that ends an utterance (end-of-speech delay)
    min_speech_ms: int = 250  # shorter speech is dropped as noise
    speech_pad_ms: int = 200  # audio kept before and after the speech
    end_pad_ms: int | None = None  # audio kept after it, if not speech_pad_ms (sooner to send)
    max_utterance_s: float = 30.0  # an utterance is cut here (Whisper hears 30 s at most)


@dataclass(frozen=True, slots=True)
class SpeechStart:
    """Speech began `at_s` seconds into the stream and has lasted long enough not to be noise."""

    at_s: float


@dataclass(frozen=True, slots=True)
class Utterance:
    """One utterance: 16 kHz mono 16-bit PCM, padding included. `start_s`/`end_s` bound that
    audio from the stream's start; `speech_end_s` is where the speech itself ended."""

    pcm: bytes
    start_s: float
    end_s: float
    speech_end_s: float


Event = SpeechStart | Utterance


def load_silero() -> Any:
    """faster-whisper's Silero ONNX session, checked to be the v6 model this module drives."""
    try:
        from faster_whisper.vad import get_vad_model
    except ImportError as exc:
        raise MissingModelError(
            f"the Silero VAD model ships with faster-whisper ({exc}): pip install faster-whisper"
        ) from exc
    try:
        model = get_vad_model()  # cached: one ONNX session, shared by every stream
    except RuntimeError as exc:  # raised when onnxruntime is missing
        raise MissingModelError(f"{exc}: pip install onnxruntime") from exc
    # We call the model directly; check that this faster-whisper bundles the model we know.
    names = {i.name for i in model.session.get_inputs()}
    if names != _MODEL_INPUTS:
        raise MissingModelError(
            f"faster-whisper's Silero model takes inputs {sorted(names)}, this stage expects "
            f"{sorted(_MODEL_INPUTS)} (Silero v6): pip install 'faster-whisper>=1.2,<2'"
        )
    return model.session


class SileroStream:
    """The model's state for one audio stream: feed it consecutive 512-sample chunks."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT), dtype=np.float32)

    def probability(self, chunk: npt.NDArray[np.float32]) -> float:
        window = chunk.reshape(1, CHUNK)
        inputs = np.concatenate([self._context, window], axis=1)
        output, self._h, self._c = self._session.run(
            None, {"input": inputs, "h": self._h, "c": self._c}
        )
        self._context = window[:, -CONTEXT:]
        return float(np.asarray(output).reshape(-1)[0])


@dataclass(frozen=True, slots=True)
class Span:
    """One utterance's audio (padding included) and where it lies in the stream, in samples."""

    samples: npt.NDArray[np.int16]
    start: int
    end: int
    speech_end: int  # the last speech sample, before the padding


class Endpointer:
    """Decides where utterances start and end from per-chunk speech probabilities.

    It buffers only what it may still emit: the current utterance, or when idle the last
    `speech_pad_ms` of audio (the lead-in of the next utterance)."""

    def __init__(self, rules: EndpointRules, sample_rate: int = SAMPLE_RATE) -> None:
        self.threshold = rules.threshold
        self.neg_threshold = max(rules.threshold - 0.15, 0.01)  # as faster-whisper does
        self.min_silence = sample_rate * rules.min_silence_ms // 1000
        self.min_speech = sample_rate * rules.min_speech_ms // 1000
        self.pad = sample_rate * rules.speech_pad_ms // 1000
        end_pad_ms = rules.speech_pad_ms if rules.end_pad_ms is None else rules.end_pad_ms
        self.end_pad = sample_rate * end_pad_ms // 1000
        self.max_samples = int(sample_rate * rules.max_utterance_s)
        self.position = 0  # samples seen so far
        self.buffer: list[npt.NDArray[np.int16]] = []
        self.buffer_start = 0  # stream position of buffer[0]
        self.speech_start: int | None = None  # None: not in speech
        self.silence_start: int | None = None  # where the current silence within speech began
        self.announced = False  # whether `new_speech` has reported the current speech

    def new_speech(self) -> int | None:
        """Where the current speech began, reported once, as soon as it is long enough not to
        be noise (`min_speech_ms`): the moment a barge-in becomes credible."""
        # Speech so far, not time since it began: a click followed by silence is no speech.
        if (
            self.speech_start is None
            or self.announced
            or self._speech_end() - self.speech_start < self.min_speech
        ):
            return None
        self.announced = True
        return self.speech_start

    def push(self, chunk: npt.NDArray[np.int16], probability: float) -> list[Span]:
        spans = self._cut_if_too_long(len(chunk))
        start = self.position
        self._append(chunk)
        if self.speech_start is None:
            if probability >= self.threshold:
                self.speech_start = start
            else:
                self._trim_lead_in()
            return spans
        if probability >= self.threshold:
            self.silence_start = None
        elif probability < self.neg_threshold and self.silence_start is None:
            self.silence_start = start
        if (
            self.silence_start is not None
            and self.position - self.silence_start >= self.min_silence
        ):
            return self._end(self.silence_start)
        return []

    def _cut_if_too_long(self, incoming: int) -> list[Span]:
        """Whisper hears 30 s at most: end an utterance that the next chunk would make longer
        than `max_utterance_s`; the speech that goes on becomes the next utterance."""
        if self.speech_start is None:
            return []
        if self.position + incoming - self.utterance_start() <= self.max_samples:
            return []
        return self._end(self._speech_end())

    def finish(self, tail: npt.NDArray[np.int16]) -> list[Span]:
        """End of stream: `tail` is the last, partial chunk (the model cannot judge it)."""
        self._append(tail)
        if self.speech_start is None:
            return []
        return self._end(self._speech_end())

    def _speech_end(self) -> int:
        """Where speech ends if the utterance must end now: where the silence began, if any."""
        return self.silence_start if self.silence_start is not None else self.position

    def _append(self, chunk: npt.NDArray[np.int16]) -> None:
        if len(chunk):
            self.buffer.append(chunk)
            self.position += len(chunk)

    def _trim_lead_in(self) -> None:
        """Drop old chunks, keeping at least `pad` samples for the next utterance's lead-in."""
        while len(self.buffer) > 1:
            kept_without_oldest = self.position - self.buffer_start - len(self.buffer[0])
            if kept_without_oldest < self.pad:
                return
            self.buffer_start += len(self.buffer.pop(0))

    def utterance_start(self) -> int:
        """Where the current utterance's audio (padding included) begins, in samples."""
        assert self.speech_start is not None
        return max(self.buffer_start, self.speech_start - self.pad)

    def pending(self) -> Span | None:
        """The utterance that ending it now would give, without ending it: None when not in
        speech or when it would be dropped as noise."""
        if self.speech_start is None or self._speech_end() - self.speech_start < self.min_speech:
            return None
        return self._span(self._audio(), self._speech_end())

    def end_now(self) -> list[Span]:
        """End the current utterance where its speech ended (a caller's decision, such as a
        turn detector's, rather than the silence rule's)."""
        return self._end(self._speech_end()) if self.speech_start is not None else []

    def audio_so_far(self) -> npt.NDArray[np.int16]:
        """The current utterance's audio from its start (padding included) to now."""
        if self.speech_start is None:
            return np.zeros(0, np.int16)
        return self._audio()[self.utterance_start() - self.buffer_start :]

    def _audio(self) -> npt.NDArray[np.int16]:
        if len(self.buffer) > 1:
            self.buffer = [np.concatenate(self.buffer)]  # joined once, not at every call
        return self.buffer[0] if self.buffer else np.zeros(0, np.int16)

    def _span(self, audio: npt.NDArray[np.int16], speech_end: int) -> Span:
        start = self.utterance_start()
        cut = min(speech_end + self.end_pad, self.position)
        samples = audio[start - self.buffer_start : cut - self.buffer_start]
        return Span(samples, start, cut, speech_end)

    def _end(self, speech_end: int) -> list[Span]:
        assert self.speech_start is not None
        long_enough = speech_end - self.speech_start >= self.min_speech
        audio = self._audio()
        span = self._span(audio, speech_end)
        # What follows the cut is kept as the lead-in of the next utterance, never shared.
        rest = audio[span.end - self.buffer_start :]
        self.buffer = [rest] if len(rest) else []
        self.buffer_start = span.end
        self.speech_start = self.silence_start = None
        self.announced = False
        return [span] if long_enough else []


class SileroEndpointer:
    """One audio stream endpointed: 16 kHz mono 16-bit little-endian PCM bytes in, in blocks of
    any size; speech starts and finished utterances out, in the order they were decided.

    Blocking (model inference): callers with an event loop run it in a worker thread. The
    ONNX session may be shared by many endpointers; each keeps its own model state."""

    def __init__(self, session: Any | None = None, rules: EndpointRules | None = None) -> None:
        self._session = load_silero() if session is None else session
        self.rules = rules or EndpointRules()
        self._pending = bytearray()  # bytes short of a whole chunk
        self._restart()

    def _restart(self) -> None:
        self._stream = SileroStream(self._session)
        self._endpointer = Endpointer(self.rules)
        self._pending.clear()

    def feed(self, pcm: bytes) -> list[Event]:
        """Run the model on every complete chunk `pcm` completes; what it decided."""
        return list(self.events(pcm))

    def events(self, pcm: bytes) -> Iterator[Event]:
        """`feed`, one event at a time: each is decided when it is asked for, so a caller can
        act on one (start transcribing a draft) before the next costs anything."""
        self._pending.extend(pcm)
        while len(self._pending) >= 2 * CHUNK:
            chunk = np.frombuffer(bytes(self._pending[: 2 * CHUNK]), dtype="<i2")
            del self._pending[: 2 * CHUNK]
            yield from self._step(chunk.astype(np.int16))

    def _step(self, chunk: npt.NDArray[np.int16]) -> Iterator[Event]:
        """One 512-sample chunk through the model and the endpointing rules."""
        probability = self._stream.probability(chunk.astype(np.float32) / 32768.0)
        yield from map(utterance_of, self._endpointer.push(chunk, probability))
        start = self._endpointer.new_speech()
        if start is not None:
            yield SpeechStart(start / SAMPLE_RATE)

    def finish(self) -> list[Event]:
        """End of stream: the speech still pending, if any. The next `feed` starts a new stream
        at 0 s with fresh model state."""
        usable = len(self._pending) - len(self._pending) % 2
        tail = np.frombuffer(bytes(self._pending[:usable]), dtype="<i2").astype(np.int16)
        events: list[Event] = [utterance_of(span) for span in self._endpointer.finish(tail)]
        self._restart()
        return events


def utterance_of(span: Span) -> Utterance:
    return Utterance(
        pcm=span.samples.astype("<i2", copy=False).tobytes(),
        start_s=span.start / SAMPLE_RATE,
        end_s=span.end / SAMPLE_RATE,
        speech_end_s=span.speech_end / SAMPLE_RATE,
    )
