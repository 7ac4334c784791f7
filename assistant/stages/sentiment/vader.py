"""Sentiment with VADER, the rule-based lexicon shipped inside the `vaderSentiment` package.

VADER knows social-media English: intensifiers ("so annoying"), capitals, "!", "ugh", emoji. Its
polarity is the compound score. On plain assistant commands it is often not 0 ("play" and
"help" are positive words, "kill" and "no" negative), hence a neutral band much wider than VADER's
usual ±0.05, calibrated on the labelled examples (see `base`).
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

from assistant.core.errors import MissingModelError
from assistant.core.stage import StageParams
from assistant.stages.sentiment.base import (
    SentimentParams,
    SentimentStage,
    negative_below,
    positive_above,
)


class VaderParams(SentimentParams):
    negative_below: float = negative_below(-0.3)
    positive_above: float = positive_above(0.45)


class VaderSentiment(SentimentStage):
    backend: ClassVar[str] = "vader"
    description: ClassVar[str] = "VADER lexicon and rules (vaderSentiment), calibrated neutral band"
    Params: ClassVar[type[StageParams]] = VaderParams
    params: VaderParams

    def load(self) -> None:
        try:
            # Imported by name: the package has no type information.
            module = importlib.import_module("vaderSentiment.vaderSentiment")
        except ImportError:
            raise MissingModelError(
                "the VADER lexicon is not installed: pip install vaderSentiment"
            ) from None
        self.analyzer: Any = module.SentimentIntensityAnalyzer()

    def polarity(self, text: str) -> float:
        return float(self.analyzer.polarity_scores(text)["compound"])
