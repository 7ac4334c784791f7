"""Choosing among Whisper's N best transcripts with a language model of what the assistant
understands: the standard N-best rescoring of speech recognition.

Each hypothesis of the beam scores its acoustic `avg_logprob` (length-normalised, as the beam
ranks them) plus `weight` times its language-model log-probability: per sentence, or per word
(`per_word`: divided by the words scored). Only the beam's own hypotheses are candidates, so an
utterance the model heard clearly (one hypothesis far ahead) keeps its words, and open-ended
speech (a name, a fact to remember) can only become another reading the acoustics allowed.
Punctuation variants of one word sequence share a language-model score: the acoustically best
of them wins. The chosen hypothesis keeps its own acoustic score as the confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.speech.lm import WordLM
from assistant.speech.nbest import Hypothesis

# Hypotheses further than this below the beam's best (mean log-probability per token) are no
# candidates: the beam keeps cut-off readings ("Good morning." for a whole sentence) that a
# language model of short commands would otherwise like better than the full one.
MARGIN = 0.5
# Chosen on the tuning part of benchmarks/asr.py for tiny.en primed (base: 0.1 in models.yaml).
LM_WEIGHT = 0.15


@dataclass(frozen=True, slots=True)
class Rescorer:
    lm: WordLM
    weight: float = LM_WEIGHT
    per_word: bool = True
    margin: float = MARGIN

    def score(self, hypothesis: Hypothesis) -> float:
        logprob, tokens = self.lm.logprob(hypothesis.text)
        lm = logprob / tokens if self.per_word else logprob
        return hypothesis.avg_logprob + self.weight * lm

    def choose(self, hypotheses: Sequence[Hypothesis]) -> Hypothesis:
        """The best of the beam's hypotheses (the beam's first when `weight` is 0)."""
        if self.weight == 0 or len(hypotheses) == 1:
            return hypotheses[0]
        floor = max(h.avg_logprob for h in hypotheses) - self.margin
        candidates = [h for h in hypotheses if h.avg_logprob >= floor]
        return max(candidates, key=self.score)  # the first of equals: the beam's order
