"""A conversation over a running pipeline: turns in, replies and per-turn records out.

The session publishes what the user said between its turn's markers, waits for its own
`TurnEnd` to leave the pipeline (`assistant.core.conversation`), and returns a `TurnRecord`
assembled by an observer from the messages it saw; each stage contributes its part of the
record's JSON (`Stage.turn_record`). It never raises because a stage failed: a failed or stuck
turn ends in a short apology.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from assistant.core.conversation import Conversation
from assistant.core.planner import INPUT, PipelinePlan
from assistant.core.runner import Pipeline
from assistant.dialogue.events import Event, ReminderScheduled
from assistant.dialogue.tracker import Tracker
from assistant.messages import (
    RESET,
    AudioFrame,
    DialogueState,
    DialogueUpdate,
    GuardVerdict,
    Interrupt,
    Marker,
    Message,
    Parse,
    Refusal,
    Reply,
    Said,
    Sentiment,
    SessionEnd,
    SessionStart,
    SpeechChunk,
    StageError,
    StageTiming,
    Transcript,
    UtteranceAudio,
)
from assistant.records import last_of, merge_into, said_of, shown_of

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Message)

APOLOGY = "Sorry, something went wrong on my side. Please try that again."
TIMEOUT_APOLOGY = "Sorry, that took me too long. Please try again."
NO_REPLY = "Sorry, I have no answer for that."
POPPED_REMEMBERED = 64  # handed-out turns whose late messages a recorder drops


DOCUMENTED_KEYS = (
    "intent", "ranking", "entities", "slots", "sentiment", "guard", "tone", "filter",
    "transcript",
)  # fmt: skip
"""Keys of `--json` that stages fill (`Stage.turn_record`): null when no stage in the pipeline
does. A plugin's stage may add keys of its own."""


@dataclass
class TurnRecord:
    """Everything observed on the bus for one turn: each sender's messages, in order."""

    session_id: str
    turn_id: int
    messages: list[tuple[str, Message]] = field(default_factory=list)  # (sender, message)
    timed_out: bool = False
    interrupted: bool = False  # the user barged in before the reply was over
    stream_start: float | None = None  # voice, real-time input: monotonic time of stream 0 s
    plan: PipelinePlan | None = None

    def of(self, kind: type[M], sender: str | None = None) -> list[M]:
        return [m for s, m in self.messages if isinstance(m, kind) and sender in (None, s)]

    def latest(self, kind: type[M]) -> M | None:
        return last_of(kind, (m for _, m in self.messages))

    @property
    def transcript(self) -> Transcript | None:
        return self.latest(Transcript)

    @property
    def verdict(self) -> GuardVerdict | None:
        return self.latest(GuardVerdict)

    @property
    def parse(self) -> Parse | None:
        return self.latest(Parse)

    @property
    def state(self) -> DialogueState | None:
        return self.latest(DialogueState)

    @property
    def sentiment(self) -> Sentiment | None:
        return self.latest(Sentiment)

    @property
    def utterance(self) -> UtteranceAudio | None:
        return self.latest(UtteranceAudio)

    @property
    def errors(self) -> list[StageError]:
        return self.of(StageError)

    @property
    def timings(self) -> list[StageTiming]:
        return self.of(StageTiming)

    @property
    def first_audio(self) -> float | None:
        """Voice: when the reply's first audio existed (monotonic)."""
        speaker = self.plan.last_producer(SpeechChunk) if self.plan else None
        chunks = self.of(SpeechChunk, speaker) if speaker else []
        return chunks[0].timestamp if chunks else None

    @property
    def reply(self) -> Said | None:
        """The reply (or refusal) that left the pipeline, its pieces merged: what the last of
        the final producers to say anything said."""
        final = self.plan.final_producers(Reply, Refusal) if self.plan else ()
        senders = [s for s, m in self.messages if isinstance(m, Said) and s in final]
        return said_of(self.of(Said, senders[-1])) if senders else None

    @property
    def shown(self) -> list[dict[str, Any]]:
        """What was given to be shown rather than said (an image, a custom payload)."""
        return shown_of(m for _, m in self.messages)

    @property
    def text(self) -> str:
        """What the user reads or hears: never a traceback, and empty only when the turn was
        interrupted (or withdrawn) before anything was said."""
        if self.reply is not None and self.reply.text.strip():
            return self.reply.text
        if self.interrupted or (self.reply is not None and self.shown):
            return ""  # nothing said, or only shown: an image, a custom payload
        if self.timed_out:
            return TIMEOUT_APOLOGY
        return APOLOGY if self.errors else NO_REPLY

    def audio_json(self) -> dict[str, Any] | None:
        """Voice turns: where the speech was, and how long the user waited for the answer."""
        utterance, first_audio = self.utterance, self.first_audio
        if utterance is None:
            return None
        after_endpoint = (
            round((first_audio - utterance.timestamp) * 1000, 1)
            if first_audio is not None
            else None
        )
        voice_to_voice = (
            round((first_audio - self.stream_start - utterance.speech_end_s) * 1000, 1)
            if first_audio is not None and self.stream_start is not None
            else None
        )
        return {
            "start_s": round(utterance.start_s, 3),
            "speech_end_s": round(utterance.speech_end_s, 3),
            "end_s": round(utterance.end_s, 3),
            # From the endpoint (the VAD let the utterance go) to the reply's first audio.
            "first_audio_ms": after_endpoint,
            # From the user's last speech sample to the reply's first audio: only known when
            # the audio came in real time (a microphone, or a file fed at its own pace).
            "voice_to_voice_ms": voice_to_voice,
        }

    def timings_ms(self) -> dict[str, float]:
        spent: dict[str, float] = {}
        for timing in self.timings:
            ms = (timing.finished - timing.started) * 1000
            spent[timing.stage] = round(spent.get(timing.stage, 0.0) + ms, 2)
        if self.timings and self.transcript is not None:
            end = max(t.finished for t in self.timings)
            spent["total"] = round((end - self.transcript.timestamp) * 1000, 2)
        return spent

    @property
    def input_text(self) -> str | None:
        """What the user said, as it may be stored: the guard's redacted text if a guard ran."""
        return self._input_of(self.stage_parts())

    def _input_of(self, parts: dict[str, Any]) -> str | None:
        transcript = self.transcript
        return parts.get("input", transcript.text if transcript else None)

    def stage_parts(self) -> dict[str, Any]:
        """The stages' parts of the record, merged in pipeline order (see `assistant.records`)."""
        parts: dict[str, Any] = dict.fromkeys(DOCUMENTED_KEYS)
        for planned in self.plan.stages if self.plan else ():
            produced = [m for s, m in self.messages if s == planned.name]
            if produced:
                merge_into(parts, planned.cls.turn_record(produced))
        return parts

    def to_json(self) -> dict[str, Any]:
        """The per-turn JSON of `--json`. Fields of stages not in the pipeline are null."""
        reply = self.reply
        parts = self.stage_parts()
        said = self._input_of(parts)
        parts.pop("input", None)
        return {
            "session": self.session_id,
            "turn": self.turn_id,
            "input": said,
            "text": self.text,
            **{key: parts.pop(key) for key in DOCUMENTED_KEYS[:8]},
            "source": reply.source if reply else None,
            "errors": [
                {"stage": e.stage, "error": e.error_type, "detail": e.detail} for e in self.errors
            ],
            "transcript": parts.pop("transcript"),
            "audio": self.audio_json(),
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "timings_ms": self.timings_ms(),
            **parts,  # keys of plugin stages
        }


class TurnRecorder:
    """Bus observer that sorts messages into per-turn records. With `session_id`, only that
    session's: a conversation must not keep the turns of every other one sharing the pipeline
    (nobody would ever take them)."""

    def __init__(self, plan: PipelinePlan, session_id: str | None = None) -> None:
        self.plan = plan
        # With many sessions on one bus, each session's recorder keeps its own turns only: it
        # pops only those, so it would hold every other session's turns for good.
        self.session_id = session_id
        self.final_senders = plan.final_producers(Reply, Refusal)
        self.turns: dict[tuple[str, int], TurnRecord] = {}
        # Turns already handed out. A stage's feedback input (the tracker taking the
        # responder's update) is no part of the turn's markers, so its timing can come after
        # the turn is over; kept, it would be a record nobody takes. The latest few suffice.
        self._popped: deque[tuple[str, int]] = deque(maxlen=POPPED_REMEMBERED)

    def record(self, session_id: str, turn_id: int) -> TurnRecord:
        key = (session_id, turn_id)
        if key not in self.turns:
            self.turns[key] = TurnRecord(session_id, turn_id, plan=self.plan)
        return self.turns[key]

    def __call__(self, message: Message, sender: str) -> None:
        # Proactive turns (negative ids: a timer announcing itself) belong to no user turn, nor
        # does turn 0: the session's own messages (feedback on a turn, say).
        if isinstance(message, Marker) or message.turn_id <= 0:
            return
        if self.session_id is not None and message.session_id != self.session_id:
            return
        if isinstance(message, SessionStart | SessionEnd | Interrupt | AudioFrame):
            return  # not part of a turn (input audio is the stream the turns are cut from)
        if (message.session_id, message.turn_id) in self._popped:
            return  # late: the turn was handed out
        self.record(message.session_id, message.turn_id).messages.append((sender, message))

    def pop(self, session_id: str, turn_id: int) -> TurnRecord:
        key = (session_id, turn_id)
        record = self.turns.pop(key, None) or TurnRecord(session_id, turn_id, plan=self.plan)
        self._popped.append(key)
        return record


def hand_over(pipeline: Pipeline, record: TurnRecord) -> None:
    """Give a finished turn's record to whoever keeps records (`StageContext.keepers`)."""
    keepers = [k for k in pipeline.context.keepers if k.wants(record.session_id, record.turn_id)]
    if keepers:  # most turns: nobody consented, and no record is built for nothing
        record_json = record.to_json()
        audio = record.utterance.pcm if record.utterance is not None else None
        for keeper in keepers:
            try:
                keeper.keep(record.session_id, record_json, pipeline.plan, audio)
            except Exception:
                log.exception("a turn's record could not be handed over")


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


class TextSession:
    """Text turns over a started pipeline whose input is `Transcript`.

    `on_proactive` is called with each reply that answers no user turn (a timer that ends).
    `user` names who is speaking (their consent and records are theirs); `interactive` is False
    when nobody could answer a question (a one-shot run)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        session_id: str | None = None,
        turn_timeout: float = 120.0,
        on_proactive: Callable[[Reply], None] | None = None,
        user: str | None = None,
        interactive: bool = True,
    ) -> None:
        self.pipeline = pipeline
        self.user, self.interactive = user, interactive
        self.bus = pipeline.bus
        self.session_id = session_id or new_session_id()
        self.conversation = Conversation(self.bus, pipeline.plan, self.session_id)
        self.turn_timeout = turn_timeout
        self.recorder = TurnRecorder(pipeline.plan, self.session_id)
        final_senders = self.recorder.final_senders
        self._removers = [self.bus.observe(self.recorder), self.conversation.close]
        if on_proactive is not None:
            callback = on_proactive

            def proactive(message: Message, sender: str) -> None:
                if (
                    isinstance(message, Reply)
                    and message.proactive
                    and message.session_id == self.session_id
                    and sender in final_senders
                ):
                    callback(message)

            self._removers.append(self.bus.observe(proactive))
        # What the dialogue holds as of the latest turn: its state's events plus what the
        # turn's responder added (the timer it set is only in the latter).
        self._dialogue: list[Event] = []
        self._removers.append(self.bus.observe(self._follow_dialogue))

    @property
    def turn_id(self) -> int:
        return self.conversation.turn_id

    def _follow_dialogue(self, message: Message, sender: str) -> None:
        if message.session_id != self.session_id:
            return
        if isinstance(message, DialogueState):
            self._dialogue = list(message.events)
        elif isinstance(message, DialogueUpdate):
            self._dialogue += message.events

    def pending_reminders(self) -> list[ReminderScheduled]:
        """Timers (reminders) of this session that have not ended, soonest first."""
        state = Tracker.from_events(self.session_id, self._dialogue).state
        return sorted(state.reminders.values(), key=lambda r: r.trigger_at)

    async def begin(self) -> None:
        start = SessionStart(
            session_id=self.session_id, turn_id=0, user=self.user, interactive=self.interactive
        )
        await self.bus.publish(start, INPUT)

    async def end(self, reason: str = "user") -> None:
        """End the conversation and wait until every stage has taken note (nothing of it is
        still being handled), without waiting on other conversations."""
        await self.bus.publish(
            SessionEnd(session_id=self.session_id, turn_id=self.turn_id, reason=reason), INPUT
        )
        await self.conversation.end_stream()

    async def reset(self) -> None:
        """Forget the conversation and start it over under the same session id (turn ids go
        on counting, so that no two turns of a session share one)."""
        await self.end(RESET)
        self._dialogue = []
        await self.begin()

    async def say(self, text: str) -> TurnRecord:
        """One user turn. Empty text is the caller's to reject (see `cli`)."""
        conversation = self.conversation
        turn = conversation.next_turn()
        done = conversation.expect(turn)
        transcript = Transcript(session_id=self.session_id, turn_id=turn, text=text)
        await conversation.publish_turn(turn, transcript)
        try:
            await asyncio.wait_for(done, self.turn_timeout)
        except TimeoutError:
            log.warning("turn %d took longer than %.0f s; cancelled", turn, self.turn_timeout)
            conversation.forget(turn)
            self.recorder.record(self.session_id, turn).timed_out = True
            await self.bus.publish(
                Interrupt(session_id=self.session_id, turn_id=turn, reason="timeout"), INPUT
            )
        record = self.recorder.pop(self.session_id, turn)
        hand_over(self.pipeline, record)
        return record

    def close(self) -> None:
        for remove in self._removers:
            remove()
