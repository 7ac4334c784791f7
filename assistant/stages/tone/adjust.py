"""The tone stage: adjusts each reply to how the user sounds, by the tone policy.

It takes every turn's `Sentiment` as feedback (from wherever it comes), keeps a short history per
conversation, and for each `Reply` picks a style from the policy: for an upset user that means
acknowledging the feeling once, keeping the answer to its first sentence, no jokes, a help offer
when it goes on, and a slower voice with longer pauses. The reply goes on with `tone` (the style,
why, what was changed) and `prosody` (what the speech stage applies). What is added never
contradicts the reply (`reply_kind`): no cheerful opener before an apology, an "I don't know" or
a refusal, no help offer after a goodbye. The acknowledging words may be the persona's.

Refusals of the input guard (`Refusal`) and proactive replies keep their words; they still get
a style and prosody. Without a sentiment for the turn (no sentiment stage in the pipeline) the
turn counts as neutral, and the reason says so.

A reply that comes in pieces (the language model's sentences as it writes them; see
`assistant.stages.said`) is adjusted as one reply: the style is chosen on its first piece and
kept for the others, the acknowledgement goes before the first piece, shortening counts
sentences over all pieces (pieces past the limit become empty), the help offer goes after the
last piece. Each piece carries the style and prosody, and in `tone.adjustments` what was done
to that piece.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from assistant.core.stage import StageParams
from assistant.messages import (
    Message,
    Prosody,
    Refusal,
    Reply,
    Said,
    Sentiment,
    SessionEnd,
    ToneChoice,
)
from assistant.persona import load_persona, persona_param
from assistant.records import said_of, tone_json
from assistant.stages.said import Piece, SaidStage
from assistant.stages.tone.history import Histories, Mood
from assistant.stages.tone.policy import DEFAULT_POLICY, Shorten, Style, When, load_policy
from assistant.stages.tone.reply_kind import reply_kinds
from assistant.text.sentences import split_sentences

NO_SENTIMENT = "no sentiment for this turn (no sentiment stage?): taken as neutral"


@dataclass
class TurnTone:
    """What was decided for one turn's reply, kept from its first piece to its last."""

    name: str
    style: Style
    mood: Mood | None
    reason: str
    keep_text: bool
    sentences: int = 0  # of the answer so far (shortening counts over the pieces)
    said: list[str] = field(default_factory=list)  # of those, the ones kept
    heard: list[str] = field(default_factory=list)  # the reply's pieces as they came

    def shorten(self, text: str, rule: Shorten, *, last: bool) -> str:
        """This piece's part of the first `max_sentences` sentences of the reply (plus a final
        question, when this is the last piece). Sentences are kept whole, never cut."""
        sentences = split_sentences(text)
        kept = rule.length.cap(sentences, after=self.said)
        final = sentences[-1] if sentences else ""
        if last and rule.keep_final_question and final not in kept and _is_question(final):
            kept.append(final)
        self.sentences += len(sentences)
        self.said += kept
        return text if len(kept) >= len(sentences) else " ".join(kept)

    @property
    def kept(self) -> int:
        return len(self.said)

    @property
    def shortened(self) -> bool:
        return self.kept < self.sentences


class ToneParams(StageParams):
    policy: Path = Field(
        DEFAULT_POLICY,
        description="the tone policy (YAML); default: the shipped assistant/policies/tone.yaml; "
        "a relative path is taken from the current folder",
    )
    history_turns: int = Field(
        20, ge=1, le=1000, description="user turns whose sentiment each conversation remembers"
    )
    persona: Path | None = persona_param()


class PolicyTone(SaidStage[TurnTone]):
    kind: ClassVar[str] = "tone"
    backend: ClassVar[str] = "policy"
    description: ClassVar[str] = "styles, acknowledgements and prosody from a tone policy file"
    produces = (Reply, Refusal)
    feedback = (Sentiment,)
    Params: ClassVar[type[StageParams]] = ToneParams
    params: ToneParams

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        said = said_of(produced)
        return {"tone": tone_json(said)} if said is not None else {}

    def load(self) -> None:
        self.policy = load_policy(self.params.policy)
        self.persona = load_persona(self.params.persona)  # whose words acknowledge
        self.histories = Histories(self.params.history_turns)
        self.random = random.Random()

    async def control(self, message: Message) -> None:
        await super().control(message)
        if isinstance(message, SessionEnd):
            self.histories.forget(message.session_id)

    def take(self, message: Message) -> None:
        if isinstance(message, Sentiment):
            self.histories[message.session_id].add(message)

    async def say(self, said: Said, state: TurnTone, piece: Piece) -> AsyncIterator[Message]:
        # Choosing and rewriting take microseconds: done on the loop, not the worker thread.
        yield self.adjust(said, state, piece)

    def adjust(self, reply: Said, turn: TurnTone, piece: Piece) -> Said:
        adjustments: tuple[str, ...] = ()
        if turn.keep_text:
            text = reply.text
        else:
            text, adjustments = self.rewrite(reply, turn, piece)
        style = turn.style
        return replace(
            reply,
            text=text,
            tone=ToneChoice(style=turn.name, reason=turn.reason, adjustments=adjustments),
            prosody=Prosody(
                rate=style.prosody.rate, sentence_pause_ms=style.prosody.sentence_pause_ms
            ),
        )

    def begin(self, said: Said, piece: Piece) -> TurnTone:
        """The style of a reply, chosen on its first piece."""
        history = self.histories[said.session_id]
        # A proactive reply answers no turn: the user's latest mood is the one that counts.
        mood = history.latest() if said.proactive else history.mood_of(said.turn_id)
        name, style = self.choose(mood)
        reason = describe(mood, latest=said.proactive)
        kept_because = self.keeps_text(said, whole=piece.last)
        if kept_because is not None:
            reason += f"; {kept_because}: text kept"
        return TurnTone(name, style, mood, reason, keep_text=kept_because is not None)

    def choose(self, mood: Mood | None) -> tuple[str, Style]:
        for name, style in self.policy.styles.items():
            if style.when is not None and applies(style.when, mood):
                return name, style
        name = self.policy.default_style
        return name, self.policy.styles[name]

    def keeps_text(self, reply: Said, *, whole: bool) -> str | None:
        """Why the reply's words must stay as they are (None: they may change)."""
        keep = self.policy.keep_text
        if reply.proactive and keep.proactive:
            return "proactive reply"
        if isinstance(reply, Refusal) and keep.refusals:
            return f"{reply.source} reply"
        if whole and not reply.text.strip():
            return "empty reply"
        return None

    def rewrite(self, reply: Said, turn: TurnTone, piece: Piece) -> tuple[str, tuple[str, ...]]:
        """One piece of a reply rewritten, and what was done to it."""
        history = self.histories[reply.session_id]
        style, mood, first, last = turn.style, turn.mood, piece.first, piece.last
        body, intent = reply.text, reply.intent or ""
        turn.heard.append(body)
        kinds = reply_kinds(" ".join(turn.heard))  # what the additions must not contradict
        adjustments: list[str] = []
        if intent in style.replace_intents:
            body = style.replace_intents[intent] if first else ""
            if first:
                adjustments.append(f"dropped the {intent} reply")
        elif style.shorten is not None:
            body = turn.shorten(body, style.shorten, last=last)
            if last and turn.shortened:
                kept = turn.kept
                adjustments.append(f"shortened to {kept} sentence{'s' if kept > 1 else ''}")
        parts = [body]
        ack = style.acknowledge
        if (
            first
            and ack is not None
            and mood is not None
            and intent not in ack.skip_intents
            and not kinds.intersection(ack.skip_replies)
            and history.first_in_stretch("acknowledge", mood)
        ):
            phrase = self.pick(ack.words(self.persona), history.last_phrase, body)
            history.last_phrase = phrase
            parts.insert(0, phrase)
            adjustments.append("acknowledged")
        offer = style.offer_help
        if (
            last
            and offer is not None
            and mood is not None
            and intent not in offer.skip_intents
            and not kinds.intersection(offer.skip_replies)
            and history.first_in_stretch("offer_help", mood)
        ):
            parts.append(offer.text)
            adjustments.append("offered help")
        return " ".join(part for part in parts if part), tuple(adjustments)

    def pick(self, phrases: Sequence[str], last: str | None, body: str) -> str:
        """A phrase, never the one said last, and not one that starts like the reply does
        ("Sorry ... Sorry, I can't ...") while another is left."""
        fresh = [p for p in phrases if p != last] or list(phrases)
        first = _first_word(body)
        return self.random.choice([p for p in fresh if _first_word(p) != first] or fresh)


def applies(when: When, mood: Mood | None) -> bool:
    label, score, streak = (mood.label, mood.score, mood.streak) if mood else ("neutral", 0.0, 1)
    return (
        (when.label is None or when.label == label)
        and (when.min_score is None or score >= when.min_score)
        and (when.max_score is None or score <= when.max_score)
        and streak >= when.min_turns_in_a_row
    )


def describe(mood: Mood | None, *, latest: bool = False) -> str:
    if mood is None:
        return NO_SENTIMENT
    reason = "neutral" if mood.label == "neutral" else f"{mood.label} ({mood.score:+.2f})"
    if latest:
        reason = f"latest turn {reason}"
    if mood.streak > 1 and mood.label != "neutral":
        reason += f", {ordinal(mood.streak)} {mood.label} turn in a row"
    return reason


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _is_question(sentence: str) -> bool:
    return sentence.rstrip("\"'”’)").endswith("?")


def _first_word(text: str) -> str:
    words = text.split()
    return words[0].strip(",.!?").lower() if words else ""
