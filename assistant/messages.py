"""The product's messages: audio, what the user said, what it means, what the assistant says.

The base class and the control messages (interrupts, errors, session boundaries) are the core's
(`assistant.core.message`); they are re-exported here so that product code imports every message
from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from assistant.core.message import (
    RESET,
    EndOfStream,
    Interrupt,
    Marker,
    Message,
    SessionEnd,
    SessionStart,
    StageError,
    StageTiming,
    TurnEnd,
    TurnStart,
)
from assistant.dialogue.events import Event
from assistant.nlu.results import Entity, IntentScore
from assistant.text.changes import TextChange

__all__ = [
    "RESET", "AudioFrame", "DialogueState", "DialogueUpdate", "EndOfStream", "Entity",
    "GuardVerdict", "IntentScore", "Interrupt", "Marker", "Message", "Parse", "Prosody", "Refusal",
    "Reply", "Said",
    "Sentiment", "SessionEnd", "SessionStart", "SpeechChunk", "SpeechStarted", "StageError",
    "StageTiming", "TextChange", "ToneChoice", "Transcript", "TranscriptDraft", "TurnEnd",
    "TurnStart",
    "UtteranceAudio", "UtteranceDraft",
]  # fmt: skip


# --- audio ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioFrame(Message):
    """A short block of microphone or file audio: 16-bit little-endian PCM."""

    INTERRUPTIBLE: ClassVar[bool] = False

    pcm: bytes
    sample_rate: int = 16_000
    channels: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class UtteranceAudio(Message):
    """One endpointed utterance: the speech between voice-activity start and end."""

    pcm: bytes
    sample_rate: int = 16_000
    start_s: float = 0.0  # where the audio carried (padding included) lies in the stream
    end_s: float = 0.0
    speech_end_s: float = 0.0  # the user's last speech sample: voice-to-voice latency counts
    # from here


@dataclass(frozen=True, slots=True, kw_only=True)
class UtteranceDraft(Message):
    """The utterance as it would be if the turn ended at this pause, sent before the VAD knows
    (speculative ASR may start on it). Only an `UtteranceAudio` is ever final: a draft whose
    audio differs from it must never be used."""

    pcm: bytes
    sample_rate: int = 16_000
    start_s: float = 0.0
    end_s: float = 0.0
    speech_end_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted(Message):
    """The user has been speaking for a moment (the VAD's minimum speech length): the turn
    `turn_id` has begun. While the assistant talks, this is what a barge-in is."""

    at_s: float  # stream position where the speech began


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechChunk(Message):
    """Synthesized audio for one piece (usually a sentence) of a reply."""

    pcm: bytes
    sample_rate: int
    text: str
    final: bool = False


# --- language ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript(Message):
    """What the user said (from ASR) or typed (text mode enters the pipeline here)."""

    text: str
    language: str = "en"
    confidence: float = 1.0
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptDraft(Message):
    """What the recognizer heard of an `UtteranceDraft`: the words so far, at a pause the user
    may still go on from (a client shows it as a partial transcript). No stage consumes it:
    only a `Transcript` is what the user said."""

    text: str
    language: str = "en"


@dataclass(frozen=True, slots=True, kw_only=True)
class Parse(Message):
    """The understood utterance: the winning intent, the ranking behind it and the entities."""

    text: str
    intent: IntentScore
    ranking: tuple[IntentScore, ...] = ()
    entities: tuple[Entity, ...] = ()
    # The user corrected the turn before ("no, I meant add milk"): `text` is what they meant.
    corrects: bool = False
    # How sure speech recognition was of the words (the Transcript's confidence; typed: 1.0):
    # the responder asks "did you say ...?" before acting on an unsure calculation or timer.
    asr_confidence: float = 1.0
    # A question of a stage before the responder (the records' consent) waits for its yes or
    # no: the responder must not ask one of its own, or one "yes" would answer both.
    question_waiting: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogueState(Message):
    """The dialogue tracker's view after the latest user turn (or a reminder that fired:
    `proactive`, with a negative turn id so it never collides with the user's turns)."""

    parse: Parse
    slots: tuple[tuple[str, object], ...] = ()
    active_form: str | None = None
    requested_slot: str | None = None
    events: tuple[Event, ...] = ()  # the session's history since its last restart
    proactive: bool = False

    def slot(self, name: str, default: object = None) -> object:
        return dict(self.slots).get(name, default)


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogueUpdate(Message):
    """Events the responder adds to the session's tracker (actions run, slots set, what the bot
    said, reminders scheduled). The dialogue-state stage applies and stores them."""

    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sentiment(Message):
    """How the user sounded in one utterance. `score` runs from -1 (very negative) to 1."""

    label: Literal["negative", "neutral", "positive"]
    score: float
    backend: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardVerdict(Message):
    """What the input guard decided about the user's utterance. `text` is the utterance as it
    may be stored (personal data redacted); a refused turn goes no further than the guard."""

    text: str
    rule: str | None = None  # the policy rule that matched, None: allowed
    score: float = 0.0
    refused: bool = False
    changes: tuple[TextChange, ...] = ()


@dataclass(frozen=True, slots=True)
class Prosody:
    """How a reply should sound; hints the TTS stage applies on top of its own settings."""

    rate: float = 1.0  # speaking-rate multiplier: below 1 is slower and calmer
    sentence_pause_ms: int | None = None  # None: the voice's own pause


@dataclass(frozen=True, slots=True)
class ToneChoice:
    """What the tone stage chose for a reply, and why (the JSON output's `tone`)."""

    style: str  # a style name from the tone policy, e.g. "calm"
    reason: str
    adjustments: tuple[str, ...] = ()  # what it did to the text, e.g. "acknowledged"


@dataclass(frozen=True, slots=True, kw_only=True)
class Said(Message):
    """Words the assistant says: a `Reply` or a `Refusal`. Tone and filter stages pass it on
    changed (the same type), saying what they did in `tone` and `changes`; TTS speaks it.

    It may arrive in pieces (the language model's sentences as it writes them), so that speech
    starts on the first sentence: `part` numbers the pieces of one turn's words from 0 and
    `more` says that further pieces follow. Stages that rewrite them treat the pieces of one
    (session, turn) as one whole, by the rule of `assistant.stages.said`. The last piece has
    `more=False` and may be empty; words that are not split are one piece, part 0 without
    more."""

    text: str
    intent: str | None = None
    source: str = ""
    proactive: bool = False  # not an answer to the user: a timer announcing itself, say
    tone: ToneChoice | None = None
    prosody: Prosody | None = None
    changes: tuple[TextChange, ...] = ()
    part: int = 0  # index of this piece
    more: bool = False  # more pieces of the same words follow


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply(Said):
    """What the assistant answers. `source` says which part of the responder produced it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal(Said):
    """The input guard's answer to a request it refused (`rule`): the turn goes no further than
    the guard, but the stages that say words (tone, filter, TTS) take it as they take a Reply,
    because they declare they consume it."""

    rule: str = ""
