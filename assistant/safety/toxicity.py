"""Profanity, slurs and insults in the assistant's own words, sentence by sentence.

Two detectors, because neither is enough alone (measured in benchmarks/filter.py):

- a word list (better-profanity's, minus words with everyday meanings such as "kill", "gay" or
  "weed"): swear words and slurs are masked in place, first letter kept ("s***");
- a classifier on the shared MiniLM sentence embeddings, trained at load time on
  `data/toxicity.yml`: it catches insults and hate without a single listed word. A sentence it
  flags is replaced whole by a neutral sentence: masking a word cannot fix "nobody likes you".

The classifier judges each sentence with its listed words already masked, so an item read back
from a shopping list ("your list has s***") stays a list, not a "toxic" sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from assistant.core.errors import MissingModelError
from assistant.nlu.embedder import SentenceEncoder, shared_encoder
from assistant.nlu.labelled import EmbeddingClassifier, load_labelled
from assistant.safety import apply_changes
from assistant.text.changes import TextChange
from assistant.text.sentences import split_sentences


def _words(*groups: str) -> frozenset[str]:
    return frozenset(word for group in groups for word in group.split())


TOXICITY_EXAMPLES = Path(__file__).resolve().parent / "data" / "toxicity.yml"
OK_LABEL = "ok"
PROFANITY_RULE = "profanity"
DEFAULT_REPLACEMENT = "Let's keep things friendly."
DEFAULT_THRESHOLD = 0.8
"""Chosen by 5-fold cross-validation on the training examples (precision 0.96, recall 0.78 on
deliberately hard sentences; 0.7 would give 0.93 / 0.83), checked on the skills' own replies:
none of their sentences scores above 0.74."""

ALLOWED_WORDS = _words(
    # everyday words and idioms: "kill the lights", "the slope", "a knob", "the organ"
    "kill murder slope sniper snuff god hell drunk fat ugly stupid dummy dopey jerk tramp trashy "
    "sleazy sleaze prude prig ninny nimrod weirdo strip stroke thrust erect organ pawn revue "
    "maxi sandbar seaman seamen knob willy willies woody wang dong dink dinks wad whiz wazoo "
    "screw screwed screwing suck sucked sucking snatch muff flange lube pasty pastie rump "
    "tush nappy niggle massa len asanchez yury xx titi homey hump humped vixen hooter "
    "hooters hooker cowgirl cowgirls foobar fubar omg lmao lmfao punky pinko quicky toots "
    "undies pantie panties panty weiner weenie weewee wedgie slave bondage playboy racy "
    "steamy kinky horny naked nude virgin lust lusty seduce sex sexual",
    # body and health: a reply about a doctor's visit is not profane
    "anal anus areole breasts crotch clitoris ejaculate ejaculated ejaculates ejaculating "
    "ejaculation erection foreskin glans gonad gonads hymen labia loin loins menses "
    "menstruate menstruation nipple nipples ovary ovum ovums penile penis phallic pubic "
    "pubis rectal rectum rectus scrotum semen sperm teat teste testes testicle testis "
    "tampon urinal urine uterus vagina vulva womb pee potty poop fart vomit tinkle pms hiv "
    "herpes leper masochist sadism sadist penetrate penetration enlargement facial",
    # identity terms and history: naming a group or an era is not a slur
    "gay gays lesbians queer transsexual guido paddy pollock reich nazi nazism hitler kkk "
    "klan aryan arian",
    # drinks, drugs and weapons, as talked about
    "rum vodka weed pot hemp ganja heroin meth opium opiate valium viagra pcp peyote hooch "
    "hootch hookah stoned extacy extasy uzi napalm",
)
"""Words of better-profanity's list that are not masked: their everyday meaning is far more
common in replies than a vulgar one. Insults among them ("stupid") are the classifier's job."""

_TOKEN = re.compile(r"[A-Za-z0-9@$*!+_.'\-]*[A-Za-z@$*][A-Za-z0-9@$*!+_.'\-]*")
_EDGE_PUNCTUATION = ".,;:!?'\"-"
_LONGEST_PHRASE = 4


@dataclass(frozen=True, slots=True)
class SentenceVerdict:
    label: str  # OK_LABEL or the most likely toxic label
    score: float  # probability that the sentence is not ok


class ProfanityList:
    """Finds listed swear words and slurs, leetspeak spellings included ("sh1t", "f*ck")."""

    def __init__(self, allowed: frozenset[str] = ALLOWED_WORDS) -> None:
        try:
            from better_profanity import Profanity
            from better_profanity.utils import get_complete_path_of_file, read_wordlist
        except ImportError:
            raise MissingModelError(
                "the profanity word list is not installed: pip install better-profanity"
            ) from None
        listed = {
            w.lower() for w in read_wordlist(get_complete_path_of_file("profanity_wordlist.txt"))
        }
        listed -= {w.lower() for w in allowed}
        self.words = frozenset(w for w in listed if " " not in w)
        self.phrases = frozenset(tuple(w.split()) for w in listed if " " in w)
        # better-profanity's matcher knows the spelling variants, but it compares a word with
        # every list entry in turn: used only for words with digits or symbols in them.
        self._variants = Profanity(sorted(self.words))

    def find(self, text: str) -> list[tuple[int, int]]:
        """Spans of the listed words and phrases in `text`, in order, not overlapping."""
        tokens = [_trim(match) for match in _TOKEN.finditer(text)]
        spans: list[tuple[int, int]] = []
        index = 0
        while index < len(tokens):
            length = self._listed_length(text, tokens, index)
            if length:
                spans.append((tokens[index][0], tokens[index + length - 1][1]))
            index += max(length, 1)
        return spans

    def _listed_length(self, text: str, tokens: Sequence[tuple[int, int]], index: int) -> int:
        """How many tokens from `index` on form a listed word or phrase (0: none)."""
        words = [text[start:end].lower() for start, end in tokens[index : index + _LONGEST_PHRASE]]
        for length in range(len(words), 1, -1):
            if tuple(words[:length]) in self.phrases:
                return length
        word = words[0].removesuffix("'s")
        if word in self.words:
            return 1
        if not word.isalpha() and self._variants.contains_profanity(word):
            return 1
        return 0


def mask(word: str) -> str:
    """ "shit" -> "s***": the first letter says a word was there, the rest is hidden."""
    return " ".join(part[:1] + "*" * (len(part) - 1) for part in word.split(" "))


class ToxicityClassifier:
    """Insult / hate / ok for a sentence, from MiniLM embeddings (blocking: worker thread)."""

    def __init__(
        self, examples: Path = TOXICITY_EXAMPLES, encoder: SentenceEncoder | None = None
    ) -> None:
        self.model = EmbeddingClassifier(encoder or shared_encoder(), load_labelled(examples))
        if OK_LABEL not in self.model.labels:
            raise ValueError(f"{examples}: needs examples labelled {OK_LABEL!r}")

    def judge(self, sentences: Sequence[str]) -> list[SentenceVerdict]:
        verdicts = []
        for prediction in self.model.predict(sentences):
            toxic = {k: p for k, p in prediction.probabilities.items() if k != OK_LABEL}
            label = max(toxic, key=toxic.__getitem__)
            verdicts.append(SentenceVerdict(label, 1.0 - prediction.probabilities[OK_LABEL]))
        return verdicts


class ToxicityFilter:
    """What to change in a text: listed words masked, flagged sentences replaced (adjacent
    flagged sentences by a single replacement). Either detector may be left out."""

    def __init__(
        self,
        words: ProfanityList | None,
        classifier: ToxicityClassifier | None,
        threshold: float = DEFAULT_THRESHOLD,
        replacement: str = DEFAULT_REPLACEMENT,
    ) -> None:
        self.words = words
        self.classifier = classifier
        self.threshold = threshold
        self.replacement = replacement

    def find(self, text: str) -> tuple[TextChange, ...]:
        """The changes `text` needs, by span of `text`, in order."""
        spans = sentence_spans(text)
        sentences = [text[start:end] for start, end in spans]
        masks = [self._masks(sentence) for sentence in sentences]
        flagged: list[SentenceVerdict | None] = [None] * len(spans)
        if self.classifier is not None and sentences:
            masked = [apply_changes(s, m) for s, m in zip(sentences, masks, strict=True)]
            flagged = [
                verdict if verdict.score >= self.threshold else None
                for verdict in self.classifier.judge(masked)
            ]
        changes: list[TextChange] = []
        index = 0
        while index < len(spans):
            if flagged[index] is None:
                offset = spans[index][0]
                changes += [
                    replace(c, start=c.start + offset, end=c.end + offset) for c in masks[index]
                ]
                index += 1
                continue
            last = index
            while last + 1 < len(spans) and flagged[last + 1] is not None:
                last += 1
            worst = max(
                (v for v in flagged[index : last + 1] if v is not None), key=lambda v: v.score
            )
            changes.append(
                TextChange(
                    f"toxicity:{worst.label}", spans[index][0], spans[last][1], self.replacement
                )
            )
            index = last + 1
        return tuple(changes)

    def _masks(self, sentence: str) -> list[TextChange]:
        if self.words is None:
            return []
        return [
            TextChange(PROFANITY_RULE, start, end, mask(sentence[start:end]))
            for start, end in self.words.find(sentence)
        ]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where each sentence of `split_sentences` lies in `text` (it normalises whitespace, so its
    words are found again in order)."""
    spans = []
    position = 0
    for sentence in split_sentences(text):
        start = end = text.index(sentence.split()[0], position)
        for word in sentence.split():
            end = text.index(word, end) + len(word)
        spans.append((start, end))
        position = end
    return spans


def _trim(match: re.Match[str]) -> tuple[int, int]:
    """A token's span without the punctuation around it ("shit." -> "shit")."""
    start, end = match.span()
    token = match.group()
    stripped = token.strip(_EDGE_PUNCTUATION)
    if not stripped:
        return start, end
    offset = token.index(stripped)
    return start + offset, start + offset + len(stripped)
