"""The vad stage: `AudioFrame`s in; `TurnStart`, `SpeechStarted`, `UtteranceAudio` and `TurnEnd`
out, endpointed by the Silero engine of `assistant.speech.vad` (one endpointer per session).

Speech begins a turn, with the id the conversation stamped on the frames; its utterance ends
it. At the end of the input (`EndOfStream`) the speech still
in progress is the last utterance.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

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
    UtteranceDraft,
)
from assistant.speech.vad import (
    SAMPLE_RATE,
    EndpointRules,
    SileroEndpointer,
    SpeechStart,
    Utterance,
    load_silero,
)


class SileroParams(StageParams):
    threshold: float = Field(0.5, gt=0, lt=1, description="speech probability that starts speech")
    min_silence_ms: int = Field(
        600, ge=0, description="silence that ends an utterance (end-of-speech delay)"
    )
    min_speech_ms: int = Field(250, ge=0, description="shorter speech is dropped as noise")
    speech_pad_ms: int = Field(200, ge=0, description="audio kept before and after the speech")
    end_pad_ms: int | None = Field(
        None, ge=0, description="audio kept after the speech; null: speech_pad_ms"
    )
    max_utterance_s: float = Field(
        30.0, ge=1, description="an utterance is cut here (Whisper hears 30 s at most)"
    )

    def rules(self) -> EndpointRules:
        return EndpointRules(
            threshold=self.threshold,
            min_silence_ms=self.min_silence_ms,
            min_speech_ms=self.min_speech_ms,
            speech_pad_ms=self.speech_pad_ms,
            end_pad_ms=self.end_pad_ms,
            max_utterance_s=self.max_utterance_s,
        )


@dataclass
class _Session:
    """One session's stream: its endpointer, messages not yet yielded, the last turn id used
    and the turn in speech."""

    endpointer: SileroEndpointer
    ready: deque[Message] = field(default_factory=deque)
    turns: int = 0
    open_turn: int | None = None  # the turn begun (its speech announced) and not yet ended


class SileroVAD(Stage):
    kind: ClassVar[str] = "vad"
    backend: ClassVar[str] = "silero"
    description: ClassVar[str] = "Silero VAD v6 (ONNX, shipped with faster-whisper): endpointing"
    consumes = (AudioFrame,)
    produces: ClassVar[tuple[type[Message], ...]] = (
        TurnStart, SpeechStarted, UtteranceAudio, TurnEnd,
    )  # fmt: skip
    Params: ClassVar[type[StageParams]] = SileroParams
    params: SileroParams

    def load(self) -> None:
        self._model_session: Any = load_silero()  # one ONNX session, shared by every stream
        self._sessions: dict[str, _Session] = {}

    async def control(self, message: Message) -> None:
        if isinstance(message, SessionStart | SessionEnd):
            self._sessions.pop(message.session_id, None)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, AudioFrame)
        session = self._sessions.get(message.session_id)
        if session is None:
            session = self._sessions[message.session_id] = self._new_session()
        _check_format(message)
        events = session.endpointer.events(message.pcm)  # decided one by one, in the worker
        # Each event is passed on as soon as it is decided (a draft is transcribed while the
        # turn detector still judges). Messages are queued on the session, not returned: if
        # this task is cancelled while the worker thread runs, they go out with the next frame.
        while await self.run_blocking(self._next, session, events, message):
            while session.ready:
                yield session.ready.popleft()
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
        return _Session(SileroEndpointer(self._model_session, self.params.rules()))

    def _next(self, session: _Session, events: Iterator[Any], frame: AudioFrame) -> bool:
        """Runs in the stage's worker thread: the engine's next event (model inference); False
        when the frame is used up."""
        event = next(events, None)
        if event is None:
            return False
        self._add(session, event, frame.session_id, frame.turn_id)
        return True

    def _finish(self, session: _Session, session_id: str) -> None:
        # The next stream starts at 0 s with fresh model state; turn ids keep counting.
        for event in session.endpointer.finish():
            self._add(session, event, session_id, session.turns + 1)

    def _add(self, session: _Session, event: Any, session_id: str, offered: int) -> None:
        """The messages of one engine event: speech begins a turn, its end ends it."""
        if isinstance(event, SpeechStart):
            began = self._begin_turn(session, session_id, offered)
            session.ready.append(
                SpeechStarted(session_id=session_id, turn_id=began, at_s=event.at_s)
            )
            return
        if not isinstance(event, Utterance):
            self._add_other(session, event, session_id, offered)
            return
        # An utterance too short to have been announced, but long enough to be speech, begins
        # its turn here.
        turn = session.open_turn
        if turn is None:
            turn = self._begin_turn(session, session_id, offered)
        session.open_turn = None
        session.ready.append(utterance_message(event, session_id, turn))
        session.ready.append(TurnEnd(session_id=session_id, turn_id=turn))

    def _add_other(self, session: _Session, event: Any, session_id: str, offered: int) -> None:
        """An event of a richer engine (a subclass's); this one has none."""
        raise TypeError(f"unexpected VAD event {event!r}")

    def _begin_turn(self, session: _Session, session_id: str, offered: int) -> int:
        """Speech begins a turn. Its id is the one the conversation stamped on the frame (the
        id of its next turn), unless this stream already used that one."""
        turn = session.open_turn = max(offered, session.turns + 1)
        session.turns = turn
        session.ready.append(TurnStart(session_id=session_id, turn_id=turn, origin=self.name))
        return turn


def _check_format(frame: AudioFrame) -> None:
    if frame.sample_rate != SAMPLE_RATE or frame.channels != 1:
        raise ValueError(
            f"the silero VAD needs 16 kHz mono frames, got {frame.sample_rate} Hz with "
            f"{frame.channels} channel(s); the input adapter must convert (read_wav does)"
        )


def utterance_message(
    utterance: Utterance,
    session_id: str,
    turn: int,
    kind: type[UtteranceAudio] | type[UtteranceDraft] = UtteranceAudio,
) -> UtteranceAudio | UtteranceDraft:
    """The message of an endpointed utterance: final (`UtteranceAudio`) or a draft."""
    # start_s/end_s bound the audio carried (padding included), from the stream's start.
    return kind(
        session_id=session_id,
        turn_id=turn,
        pcm=utterance.pcm,
        sample_rate=SAMPLE_RATE,
        start_s=utterance.start_s,
        end_s=utterance.end_s,
        speech_end_s=utterance.speech_end_s,
    )
