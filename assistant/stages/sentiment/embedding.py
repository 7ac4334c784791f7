"""Sentiment from a classifier on the shared MiniLM sentence embeddings, trained at load time on
the labelled examples in `data/sentiment.yml` (or a file of your own).

Unlike a lexicon it reads the whole sentence, so "you never understand me" is negative although
no word in it is, and a command is neutral because it looks like the commands it was shown. The
polarity is P(positive) - P(negative).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from assistant.core.stage import Progress, StageContext, StageParams
from assistant.nlu.embedder import prepare_encoder, shared_encoder
from assistant.nlu.labelled import EmbeddingClassifier, load_labelled
from assistant.stages.sentiment.base import (
    LABELS,
    SentimentParams,
    SentimentStage,
    negative_below,
    positive_above,
)

DEFAULT_EXAMPLES = Path(__file__).resolve().parent / "data" / "sentiment.yml"


class EmbeddingSentimentParams(SentimentParams):
    negative_below: float = negative_below(-0.5)
    positive_above: float = positive_above(0.2)
    examples: Path = Field(
        DEFAULT_EXAMPLES,
        description="labelled examples (negative/neutral/positive -> sentences); default: the "
        "shipped set",
    )
    model_path: Path | None = Field(
        None, description="a sentence-embedding model folder; default: the shipped MiniLM"
    )


class EmbeddingSentiment(SentimentStage):
    backend: ClassVar[str] = "embedding"
    description: ClassVar[str] = "MiniLM sentence embeddings + logistic regression on examples"
    Params: ClassVar[type[StageParams]] = EmbeddingSentimentParams
    params: EmbeddingSentimentParams

    @classmethod
    def prepare(cls, params: StageParams, context: StageContext, progress: Progress) -> bool:
        assert isinstance(params, EmbeddingSentimentParams)
        return prepare_encoder(params.model_path)

    def load(self) -> None:
        path = self.params.examples
        examples = load_labelled(path)
        if sorted(examples) != sorted(LABELS):
            raise ValueError(
                f"{path}: expected examples of exactly the labels {', '.join(LABELS)}, "
                f"got {', '.join(examples) or 'none'}"
            )
        self.classifier = EmbeddingClassifier(shared_encoder(self.params.model_path), examples)

    def polarity(self, text: str) -> float:
        probabilities = self.classifier.predict([text])[0].probabilities
        return probabilities["positive"] - probabilities["negative"]
