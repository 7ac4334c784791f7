"""The shared part of every sentiment backend: from a raw polarity to a label and a score.

A backend only measures the *polarity* of a text (-1 very negative .. 1 very positive, its own
scale). Most of what an assistant hears is a plain command, and lexicons and classifiers alike
give some of those a small polarity ("play" and "help" read as positive, "kill the timer" and
"no" as negative). So each backend has a calibrated neutral band, [`negative_below`,
`positive_above`], measured on the labelled examples in `data/sentiment.yml`
(`python -m benchmarks.sentiment --calibrate`). Inside the band the label is neutral and the score
0; outside it the score is how far past the band the polarity goes, rescaled to reach -1 or 1, so
a score means the same thing to the tone stage whichever backend produced it.

The stage yields the `Sentiment` first and then passes the very same `Transcript` on, so the
sentiment of a turn is on the bus before anything later in the pipeline sees the turn.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from assistant.core.stage import Stage, StageParams
from assistant.messages import Message, Sentiment, Transcript
from assistant.records import last_of

Label = Literal["negative", "neutral", "positive"]
LABELS: tuple[Label, ...] = ("negative", "neutral", "positive")


def negative_below(default: float) -> Any:
    return Field(
        default,
        gt=-1,
        le=0,
        description="polarity below which the utterance is negative (the neutral band's edge)",
    )


def positive_above(default: float) -> Any:
    return Field(
        default,
        ge=0,
        lt=1,
        description="polarity above which the utterance is positive (the neutral band's edge)",
    )


class SentimentParams(StageParams):
    negative_below: float = negative_below(-0.3)
    positive_above: float = positive_above(0.3)


def label_and_score(polarity: float, low: float, high: float) -> tuple[Label, float]:
    """The label of a polarity for the neutral band [low, high], and its score past the band."""
    polarity = max(-1.0, min(1.0, polarity))
    if polarity < low:
        return "negative", (polarity - low) / (1 + low)
    if polarity > high:
        return "positive", (polarity - high) / (1 - high)
    return "neutral", 0.0


class SentimentStage(Stage):
    """Abstract sentiment scoring: `Transcript` in, `Sentiment` and the same `Transcript` out."""

    kind: ClassVar[str] = "sentiment"
    consumes = (Transcript,)
    produces = (Sentiment, Transcript)
    Params: ClassVar[type[StageParams]] = SentimentParams
    params: SentimentParams

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        found = last_of(Sentiment, produced)
        if found is None:
            return {}
        return {"sentiment": {"label": found.label, "score": round(found.score, 3)}}

    @abstractmethod
    def polarity(self, text: str) -> float:
        """The backend's raw polarity of a non-blank text, in [-1, 1] (blocking)."""

    def judge(self, text: str) -> tuple[Label, float]:
        if not text.strip():
            return "neutral", 0.0
        return label_and_score(
            self.polarity(text), self.params.negative_below, self.params.positive_above
        )

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Transcript)
        label, score = await self.run_blocking(self.judge, message.text)
        yield Sentiment(
            session_id=message.session_id,
            turn_id=message.turn_id,
            label=label,
            score=round(score, 4),
            backend=self.backend,
        )
        yield message
