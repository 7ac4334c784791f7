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

End of stream: `control()` cannot yield messages, so a SessionEnd cannot flush pending speech.
An input adapter ends a stream either with trailing silence (a microphone naturally does) or with
an `AudioFrame` of zero length, which emits any speech still pending and starts a new stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from assistant.core.errors import MissingModelError
from assistant.core.stage import Stage, StageParams
from assistant.messages import (
    AudioFrame,
    Message,
    SessionEnd,
    SessionStart,
    SpeechStarted,
    TurnEnd,
    TurnStart,
    UtteranceAudio,
)

SAMPLE_RATE = 16_000
CHUNK = 512  # samples per model call: the only window Silero v6 takes at 16 kHz
CONTEXT = 64  # samples of the previous chunk the model sees before each window
_MODEL_INPUTS = {"input", "h", "c"}


class SileroParams(StageParams):
    threshold: float = Field(0.5, gt=0, lt=1, description="speech probability that starts speech")
    min_silence_ms: int = Field(
        600, ge=0, description="silence that ends an utterance (end-of-speech delay)"
    )
    min_speech_ms: int = Field(250, ge=0, description="shorter speech is dropped as noise")
    speech_pad_ms: int = Field(200, ge=0, description="audio kept before and after the speech")
    max_utterance_s: float = Field(
        30.0, ge=1, description="an utterance is cut here (Whisper hears 30 s at most)"
    )


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

    def __init__(self, params: SileroParams, sample_rate: int = SAMPLE_RATE) -> None:
        self.threshold = params.threshold
        self.neg_threshold = max(params.threshold - 0.15, 0.01)  # as faster-whisper does
        self.min_silence = sample_rate * params.min_silence_ms // 1000
        self.min_speech = sample_rate * params.min_speech_ms // 1000
        self.pad = sample_rate * params.speech_pad_ms // 1000
        self.max_samples = int(sample_rate * params.max_utterance_s)
        self.position = 0  # samples seen so far
        self.buffer: list[npt.NDArray[np.int16]] = []
        self.buffer_start = 0  # stream position of buffer[0]
        self.speech_start: int | None = None  # None: not in speech
        self.silence_start: int | None = None  # where the current silence within speech began
        self.announced = False  # whether `new_speech` has reported the current speech

    def new_speech(self) -> int | None:
        """Where the current speech began, reported once, as soon as it is long enough not to
        be noise (`min_speech_ms`): the moment a barge-in becomes credible."""
        if (
            self.speech_start is None
            or self.announced
            or self.position - self.speech_start < self.min_speech
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
        if self.position + incoming - self._utterance_start() <= self.max_samples:
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

    def _utterance_start(self) -> int:
        assert self.speech_start is not None
        return max(self.buffer_start, self.speech_start - self.pad)

    def _end(self, speech_end: int) -> list[Span]:
        assert self.speech_start is not None
        long_enough = speech_end - self.speech_start >= self.min_speech
        start = self._utterance_start()
        cut = min(speech_end + self.pad, self.position)
        audio = np.concatenate(self.buffer) if self.buffer else np.zeros(0, np.int16)
        # What follows the cut is kept as the lead-in of the next utterance, never shared.
        rest = audio[cut - self.buffer_start :]
        self.buffer = [rest] if len(rest) else []
        span = Span(
            audio[start - self.buffer_start : cut - self.buffer_start], start, cut, speech_end
        )
        self.buffer_start = cut
        self.speech_start = self.silence_start = None
        self.announced = False
        return [span] if long_enough else []


@dataclass
class _Session:
    """One session's stream: model state, endpointer, bytes short of a chunk, finished
    utterances and turn markers not yet yielded, the last turn id used and the turn in speech."""

    stream: SileroStream
    endpointer: Endpointer
    pending: bytearray = field(default_factory=bytearray)
    ready: deque[Message] = field(default_factory=deque)
    turns: int = 0
    open_turn: int | None = None  # the turn begun (its speech announced) and not yet ended


class SileroVAD(Stage):
    kind: ClassVar[str] = "vad"
    backend: ClassVar[str] = "silero"
    description: ClassVar[str] = "Silero VAD v6 (ONNX, shipped with faster-whisper): endpointing"
    consumes = (AudioFrame,)
    produces = (TurnStart, SpeechStarted, UtteranceAudio, TurnEnd)
    Params: ClassVar[type[StageParams]] = SileroParams
    params: SileroParams

    def load(self) -> None:
        try:
            from faster_whisper.vad import get_vad_model
        except ImportError as exc:
            raise MissingModelError(
                f"the Silero VAD model ships with faster-whisper ({exc}): "
                "pip install faster-whisper"
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
        self._model_session: Any = model.session
        self._sessions: dict[str, _Session] = {}

    async def control(self, message: Message) -> None:
        if isinstance(message, SessionStart | SessionEnd):
            self._sessions.pop(message.session_id, None)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, AudioFrame)
        session = self._sessions.get(message.session_id)
        if session is None:
            session = self._sessions[message.session_id] = self._new_session()
        await self.run_blocking(self._feed, session, message)
        # Utterances are queued on the session, not returned: if this task is cancelled
        # (an interrupt) while the worker thread runs, they are yielded with the next frame.
        while session.ready:
            yield session.ready.popleft()

    async def end_stream(self, session_id: str) -> AsyncIterator[Message]:
        """The input ended: the speech still in progress is the last utterance."""
        session = self._sessions.get(session_id)
        if session is None:
            return
        await self.run_blocking(self._finish, session, session_id)
        while session.ready:
            yield session.ready.popleft()

    def _new_session(self) -> _Session:
        return _Session(SileroStream(self._model_session), Endpointer(self.params))

    def _feed(self, session: _Session, frame: AudioFrame) -> None:
        """Runs in the stage's worker thread: model inference for every complete chunk."""
        if frame.sample_rate != SAMPLE_RATE or frame.channels != 1:
            raise ValueError(
                f"the silero VAD needs 16 kHz mono frames, got {frame.sample_rate} Hz with "
                f"{frame.channels} channel(s); the input adapter must convert (read_wav does)"
            )
        session.pending.extend(frame.pcm)
        endpointer = session.endpointer
        while len(session.pending) >= 2 * CHUNK:
            chunk = np.frombuffer(bytes(session.pending[: 2 * CHUNK]), dtype="<i2")
            del session.pending[: 2 * CHUNK]
            probability = session.stream.probability(chunk.astype(np.float32) / 32768.0)
            self._ended(session, endpointer.push(chunk.astype(np.int16), probability), frame)
            start = endpointer.new_speech()
            if start is not None:
                turn = self._begin_turn(session, frame.session_id, frame.turn_id)
                session.ready.append(
                    SpeechStarted(
                        session_id=frame.session_id, turn_id=turn, at_s=start / SAMPLE_RATE
                    )
                )

    def _begin_turn(self, session: _Session, session_id: str, offered: int) -> int:
        """Speech begins a turn. Its id is the one the conversation stamped on the frame (the
        id of its next turn), unless this stream already used that one."""
        turn = session.open_turn = max(offered, session.turns + 1)
        session.turns = turn
        session.ready.append(TurnStart(session_id=session_id, turn_id=turn, origin=self.name))
        return turn

    def _ended(self, session: _Session, spans: list[Span], frame: AudioFrame | None) -> None:
        """Each finished utterance ends its turn; so does speech that came to nothing."""
        session_id = frame.session_id if frame is not None else ""
        offered = frame.turn_id if frame is not None else 0
        for span in spans:
            self._add_utterance(session, span, session_id, offered)
        if session.open_turn is not None and session.endpointer.speech_start is None:
            turn, session.open_turn = session.open_turn, None
            session.ready.append(TurnEnd(session_id=session_id, turn_id=turn))

    def _finish(self, session: _Session, session_id: str) -> None:
        usable = len(session.pending) - len(session.pending) % 2
        tail = np.frombuffer(bytes(session.pending[:usable]), dtype="<i2").astype(np.int16)
        frame = AudioFrame(session_id=session_id, turn_id=session.turns + 1, pcm=b"")
        self._ended(session, session.endpointer.finish(tail), frame)
        # A new stream starts at 0 s with fresh model state; turn ids keep counting.
        session.stream = SileroStream(self._model_session)
        session.endpointer = Endpointer(self.params)
        session.pending.clear()

    def _add_utterance(self, session: _Session, span: Span, session_id: str, offered: int) -> None:
        turn = session.open_turn
        if turn is None:  # too short to have been announced, but long enough to be speech
            turn = self._begin_turn(session, session_id, offered)
        session.open_turn = None
        # start_s/end_s bound the audio carried (padding included), from the stream's start.
        session.ready.append(
            UtteranceAudio(
                session_id=session_id,
                turn_id=turn,
                pcm=span.samples.astype("<i2", copy=False).tobytes(),
                sample_rate=SAMPLE_RATE,
                start_s=span.start / SAMPLE_RATE,
                end_s=span.end / SAMPLE_RATE,
                speech_end_s=span.speech_end / SAMPLE_RATE,
            )
        )
        session.ready.append(TurnEnd(session_id=session_id, turn_id=turn))
