"""A conversation over a running pipeline: turns in, replies and per-turn records out.

The session publishes what the user said, waits until the bus is quiet (every stage has handled
everything of the turn), and returns a `TurnRecord` assembled by an observer from the messages it
saw. It never raises because a stage failed: a failed or stuck turn ends in a short apology.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from assistant.core.conversation import Conversation
from assistant.core.planner import INPUT, PipelinePlan
from assistant.core.runner import Pipeline
from assistant.dialogue.events import Event, ReminderScheduled
from assistant.dialogue.tracker import Tracker
from assistant.messages import (
    RESET,
    DialogueState,
    DialogueUpdate,
    GuardVerdict,
    Interrupt,
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
    TextChange,
    Transcript,
    UtteranceAudio,
)

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. Please try that again."
TIMEOUT_APOLOGY = "Sorry, that took me too long. Please try again."
NO_REPLY = "Sorry, I have no answer for that."


@dataclass
class TurnRecord:
    """Everything observed on the bus for one turn."""

    session_id: str
    turn_id: int
    transcript: Transcript | None = None
    verdict: GuardVerdict | None = None
    sentiment: Sentiment | None = None
    parse: Parse | None = None
    state: DialogueState | None = None
    replies: list[tuple[str, Said]] = field(default_factory=list)  # (sender, reply or refusal)
    errors: list[StageError] = field(default_factory=list)
    timings: list[StageTiming] = field(default_factory=list)
    timed_out: bool = False
    interrupted: bool = False  # the user barged in before the reply was over
    utterance: UtteranceAudio | None = None  # voice: the endpointed speech of this turn
    first_audio: float | None = None  # voice: when the reply's first audio existed (monotonic)
    stream_start: float | None = None  # voice, real-time input: monotonic time of stream 0 s
    final_senders: tuple[str, ...] = ()  # the stages whose Reply or Refusal leaves the pipeline
    filtered: bool = False  # the pipeline has a filter stage (so `filter` is a list, not null)

    @property
    def reply_pieces(self) -> list[Said]:
        """The pieces of the reply (or refusal) that left the pipeline, in part order: one for
        a reply that was not split. A part 0 begins a new reply (an apology after a failure)."""
        final = next((s for s, _ in reversed(self.replies) if s in self.final_senders), None)
        pieces: list[Said] = []
        for sender, reply in self.replies:
            if sender == final:
                pieces = [reply] if reply.part == 0 else [*pieces, reply]
        return sorted(pieces, key=lambda r: r.part)

    @property
    def reply(self) -> Said | None:
        """The reply that left the pipeline, its pieces merged into one (see `merge_pieces`)."""
        pieces = self.reply_pieces
        return merge_pieces(pieces) if pieces else None

    @property
    def text(self) -> str:
        """What the user reads or hears: never empty, never a traceback."""
        if self.reply is not None and self.reply.text.strip():
            return self.reply.text
        if self.timed_out:
            return TIMEOUT_APOLOGY
        return APOLOGY if self.errors else NO_REPLY

    def audio_json(self) -> dict[str, Any] | None:
        """Voice turns: where the speech was, and how long the user waited for the answer."""
        if self.utterance is None:
            return None
        utterance = self.utterance
        after_endpoint = (
            round((self.first_audio - utterance.timestamp) * 1000, 1)
            if self.first_audio is not None
            else None
        )
        voice_to_voice = (
            round((self.first_audio - self.stream_start - utterance.speech_end_s) * 1000, 1)
            if self.first_audio is not None and self.stream_start is not None
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

    def filter_json(self) -> list[dict[str, Any]] | None:
        """Every change made to the user's words (guard) and to the reply (filter); null when
        neither stage ran."""
        reply = self.reply
        if self.verdict is None and not self.filtered:
            return None
        changes = [("input", c) for c in (self.verdict.changes if self.verdict else ())]
        changes += [("reply", c) for c in (reply.changes if reply else ())]
        return [
            {"on": on, "rule": c.rule, "start": c.start, "end": c.end, "replacement": c.replacement}
            for on, c in changes
        ]

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
        if self.verdict is not None:
            return self.verdict.text
        return self.transcript.text if self.transcript else None

    def to_json(self) -> dict[str, Any]:
        """The per-turn JSON of `--json`. Fields of stages not in the pipeline are null."""
        parse = self.state.parse if self.state is not None else self.parse
        reply = self.reply
        return {
            "session": self.session_id,
            "turn": self.turn_id,
            "input": self.input_text,
            "text": self.text,
            "intent": (
                {"name": parse.intent.name, "confidence": parse.intent.confidence}
                if parse
                else None
            ),
            "ranking": (
                [{"name": i.name, "confidence": i.confidence} for i in parse.ranking]
                if parse
                else None
            ),
            "entities": (
                [
                    {
                        "entity": e.entity,
                        "value": e.value,
                        "text": e.text,
                        "start": e.start,
                        "end": e.end,
                    }
                    for e in parse.entities
                ]
                if parse
                else None
            ),
            "slots": dict(self.state.slots) if self.state is not None else None,
            "sentiment": (
                {"label": self.sentiment.label, "score": round(self.sentiment.score, 3)}
                if self.sentiment
                else None
            ),
            "guard": (
                {
                    "rule": self.verdict.rule,
                    "score": round(self.verdict.score, 3),
                    "refused": self.verdict.refused,
                }
                if self.verdict
                else None
            ),
            "tone": _tone_json(reply) if reply and reply.tone else None,
            "filter": self.filter_json(),
            "source": reply.source if reply else None,
            "errors": [
                {"stage": e.stage, "error": e.error_type, "detail": e.detail} for e in self.errors
            ],
            "transcript": (
                {
                    "text": self.transcript.text,
                    "language": self.transcript.language,
                    "confidence": round(self.transcript.confidence, 3),
                }
                if self.transcript is not None and self.utterance is not None
                else None
            ),
            "audio": self.audio_json(),
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "timings_ms": self.timings_ms(),
        }


class TurnRecorder:
    """Bus observer that sorts messages into per-turn records."""

    RECORDED = (
        UtteranceAudio, Transcript, GuardVerdict, Sentiment, Parse, DialogueState, Said,
        SpeechChunk, StageError, StageTiming,
    )  # fmt: skip

    def __init__(self, plan: PipelinePlan) -> None:
        self.final_senders = plan.final_producers(Reply, Refusal)
        self.speech_sender = plan.last_producer(SpeechChunk)
        self.filtered = "filter" in plan.kinds
        self.turns: dict[tuple[str, int], TurnRecord] = {}

    def record(self, session_id: str, turn_id: int) -> TurnRecord:
        key = (session_id, turn_id)
        if key not in self.turns:
            self.turns[key] = TurnRecord(
                session_id, turn_id, final_senders=self.final_senders, filtered=self.filtered
            )
        return self.turns[key]

    def __call__(self, message: Message, sender: str) -> None:
        # Proactive turns (negative ids: a timer announcing itself) belong to no user turn.
        if not isinstance(message, self.RECORDED) or message.turn_id < 0:
            return
        record = self.record(message.session_id, message.turn_id)
        match message:
            case UtteranceAudio():
                record.utterance = message
            case SpeechChunk():
                if record.first_audio is None and sender == self.speech_sender:
                    record.first_audio = message.timestamp
            case Transcript():
                record.transcript = message
            case GuardVerdict():
                record.verdict = message
            case Sentiment():
                record.sentiment = message
            case Parse():
                record.parse = message
            case DialogueState():
                record.state = message
            case Said():
                record.replies.append((sender, message))
            case StageError():
                record.errors.append(message)
            case StageTiming():
                record.timings.append(message)

    def pop(self, session_id: str, turn_id: int) -> TurnRecord:
        return self.turns.pop((session_id, turn_id), None) or self.record(session_id, turn_id)


def merge_pieces(pieces: Sequence[Said]) -> Said:
    """One reply made of the pieces of a reply, as if it had come whole: the texts joined with
    single spaces (empty pieces skipped), each piece's changes moved to where the piece's text
    (as the filter was given it) begins in the joined text, the tone of the first piece with the
    adjustments of all pieces in order, everything else from the first piece."""
    first = pieces[0]
    if len(pieces) == 1:
        return first
    texts: list[str] = []
    changes: list[TextChange] = []
    given = 0  # length of the joined text the changes refer to
    adjustments: list[str] = []
    for piece in pieces:
        if piece.tone is not None:
            adjustments += [a for a in piece.tone.adjustments if a not in adjustments]
        if not piece.text.strip() and not piece.changes:
            continue
        offset = given + (1 if texts else 0)
        changes += [replace(c, start=c.start + offset, end=c.end + offset) for c in piece.changes]
        given = (
            offset
            + len(piece.text)
            - sum(len(c.replacement) - (c.end - c.start) for c in piece.changes)
        )
        texts.append(piece.text)
    tone = replace(first.tone, adjustments=tuple(adjustments)) if first.tone else None
    return replace(
        first, text=" ".join(texts), changes=tuple(changes), tone=tone, part=0, more=False
    )


def _tone_json(reply: Said) -> dict[str, Any]:
    assert reply.tone is not None
    prosody = reply.prosody
    return {
        "style": reply.tone.style,
        "reason": reply.tone.reason,
        "adjustments": list(reply.tone.adjustments),
        "prosody": (
            {"rate": prosody.rate, "sentence_pause_ms": prosody.sentence_pause_ms}
            if prosody
            else None
        ),
    }


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


class TextSession:
    """Text turns over a started pipeline whose input is `Transcript`.

    `on_proactive` is called with each reply that answers no user turn (a timer that ends)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        session_id: str | None = None,
        turn_timeout: float = 120.0,
        on_proactive: Callable[[Reply], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.bus = pipeline.bus
        self.session_id = session_id or new_session_id()
        self.conversation = Conversation(self.bus, pipeline.plan, self.session_id)
        self.turn_timeout = turn_timeout
        self.recorder = TurnRecorder(pipeline.plan)
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
        await self.bus.publish(SessionStart(session_id=self.session_id, turn_id=0), INPUT)

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
        return self.recorder.pop(self.session_id, turn)

    def close(self) -> None:
        for remove in self._removers:
            remove()
