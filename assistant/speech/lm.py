"""A small word language model of what the assistant understands: an interpolated Kneser-Ney
trigram over plain sentences (the stage hands it the skills' example requests and entity values),
to rescore Whisper's N best transcripts (`assistant.speech.rescore`).

Words are lower case with punctuation dropped; every number, said ("twelve", "two hundred and
fifty") or written ("12", "1,250"), is the one class word `NUMBER` (the assistant's own number
grammar finds them): Whisper writes digits, the examples mix both, and which number was said is
the acoustics' business, not the language model's. The vocabulary is open: a word no sentence
has gets the probability of a word seen once (add-one on the lowest order), so a name or a
fact to remember is unlikely but never impossible.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from assistant.nlu.numbers import find_numbers

NUMBER = "<num>"
BOS, EOS = "<s>", "</s>"
DISCOUNT = 0.75  # Kneser-Ney's absolute discount: the usual value for small corpora
_WORD = re.compile(r"<num>|[a-z]+(?:'[a-z]+)*")


def words(text: str) -> list[str]:
    """'What is 12 times nine?' -> ['what', 'is', '<num>', 'times', '<num>']: lower case, no
    punctuation, each run of numbers one `NUMBER`."""
    text = text.lower().replace("’", "'")
    pieces, last = [], 0
    for start, end, _ in find_numbers(text):
        pieces += [text[last:start], f" {NUMBER} "]
        last = end
    out: list[str] = []
    for word in _WORD.findall("".join([*pieces, text[last:]])):
        if not (word == NUMBER and out and out[-1] == NUMBER):
            out.append(word)
    return out


Follow = dict[tuple[str, ...], Counter[str]]  # context -> next word -> count


class WordLM:
    """Interpolated Kneser-Ney trigram. `logprob(text)` is the natural-log probability of the
    sentence's words and its end."""

    def __init__(self, sentences: Iterable[str]) -> None:
        trigrams: Follow = defaultdict(Counter)
        for sentence in sentences:
            tokens = [BOS, BOS, *words(sentence), EOS]
            if len(tokens) == 3:
                continue  # an empty sentence says nothing
            for i in range(2, len(tokens)):
                trigrams[tokens[i - 2], tokens[i - 1]][tokens[i]] += 1
        # Lower orders count the contexts a word follows (continuation counts), not its uses.
        bigrams: Follow = defaultdict(Counter)
        for (_, v), follow in trigrams.items():
            bigrams[(v,)].update(follow.keys())
        unigrams = Counter[str]()
        for follow in bigrams.values():
            unigrams.update(follow.keys())
        self._orders: tuple[Follow, Follow] = (dict(trigrams), dict(bigrams))
        self._totals = {ctx: sum(f.values()) for order in self._orders for ctx, f in order.items()}
        self._unigrams = unigrams
        self._unigram_total = sum(unigrams.values())
        self.vocabulary = frozenset(unigrams) - {EOS}

    def __len__(self) -> int:
        return len(self.vocabulary)

    def _unigram(self, word: str) -> float:
        # Add-one over the vocabulary and one unknown word: an unseen word is as likely as one
        # seen in a single context.
        return (self._unigrams.get(word, 0) + 1) / (self._unigram_total + len(self._unigrams) + 1)

    def prob(self, word: str, context: Sequence[str]) -> float:
        """P(word | the two words before it), interpolated down to the open unigram."""
        p = self._unigram(word)
        trigrams, bigrams = self._orders
        for order, ctx in ((bigrams, tuple(context[-1:])), (trigrams, tuple(context[-2:]))):
            follow = order.get(ctx)
            if not follow:
                continue
            total = self._totals[ctx]
            seen = max(follow.get(word, 0) - DISCOUNT, 0.0) / total
            p = seen + DISCOUNT * len(follow) / total * p
        return p

    def logprob(self, text: str) -> tuple[float, int]:
        """(log-probability of the sentence, how many tokens it scored: its words and the end)."""
        tokens = [BOS, BOS, *words(text), EOS]
        scores = (math.log(self.prob(tokens[i], tokens[i - 2 : i])) for i in range(2, len(tokens)))
        return sum(scores), len(tokens) - 2
