"""Entity extraction learnt from the `[value](entity)` annotations of the skills' `nlu.yml`.

Three sources, as in a Rasa pipeline, merged into one answer:

- a linear-chain CRF (Rasa's CRFEntityExtractor) tagging tokens with BILOU labels; its features
  include the `regex` and `lookup` entries of nlu.yml, so those also help entities they do not
  list word for word;
- `regex` and `lookup` entries named after an annotated entity, which produce that entity wherever
  they match (Rasa's RegexEntityExtractor);
- the rule-based system entities of `assistant.nlu.numbers` (duration, number), run when the
  training data uses those names, as Duckling would be.

Values are normalised: durations to seconds, numbers to int/float, everything else through the
synonyms. Overlapping candidates are resolved so that each character belongs to one entity.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.nlu.fitted import fit_key, fitted_path
from assistant.nlu.numbers import (
    NUMBER_WORDS,
    TIME_UNIT_WORDS,
    Number,
    Token,
    find_durations,
    find_numbers,
    parse_duration,
    parse_number,
    tokenize,
)
from assistant.nlu.results import Entity
from assistant.skills.loader import Example

log = logging.getLogger(__name__)

DURATION = "duration"
NUMBER = "number"

Features = dict[str, str | float]
# What the number rules found in a sentence: (durations, numbers), each [(start, end, value)].
SystemSpans = tuple[list[tuple[int, int, float]], list[tuple[int, int, Number]]]

# On ties (same span length) the rules the skill author wrote win: a regex or lookup named after
# an entity is meant to be exact, where the CRF generalises from a few examples. The number and
# duration rules are only the backstop.
_PRIORITY = {"regex": 0, "lookup": 1, "crf": 2, "system": 3}


@dataclass(frozen=True, slots=True)
class _Candidate:
    entity: str
    start: int
    end: int
    value: object
    extractor: str
    normalized: bool  # False: a duration/number whose text did not parse


def _shape(word: str) -> str:
    """Xxxx -> Xx, 1,000 -> d,d: character classes with runs collapsed."""
    out: list[str] = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.isalpha() else "d" if char.isdigit() else char
        if not out or out[-1] != kind:
            out.append(kind)
    return "".join(out)


def _lookup_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word alternation; longest first so "oat milk" beats "oat"."""
    alternatives = sorted({p.strip() for p in phrases if p.strip()}, key=len, reverse=True)
    if not alternatives:
        return None
    body = "|".join(re.escape(p) for p in alternatives)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def _compile_regexes(name: str, patterns: Iterable[str]) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in patterns:
        try:
            # Case-insensitive, as Rasa's regex features and extractor are by default.
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"regex {name!r}: invalid pattern {pattern!r} ({exc})") from None
    return compiled


class EntityExtractor:
    """Train with the skills' examples, regexes, lookups and synonyms; then `extract(text)`.

    Safe to call `extract` from several threads: the CRF tagger is guarded by a lock.
    """

    def __init__(self, *, c1: float = 0.01, c2: float = 0.01, max_iterations: int = 100) -> None:
        self.c1 = c1
        self.c2 = c2
        self.max_iterations = max_iterations
        self.entity_names: frozenset[str] = frozenset()
        self._crf: Any = None
        self._lock = threading.Lock()
        self._lookups: dict[str, re.Pattern[str]] = {}
        self._regexes: dict[str, list[re.Pattern[str]]] = {}
        self._synonyms: dict[str, str] = {}
        self._durations: frozenset[str] = frozenset()
        self._closed: dict[str, str] = {}  # entity -> the lookup table that lists its values
        self._numbers: frozenset[str] = frozenset()

    # --- training --------------------------------------------------------------------------------

    def train(
        self,
        examples: Sequence[Example],
        regexes: Mapping[str, Sequence[str]] | None = None,
        lookups: Mapping[str, Sequence[str]] | None = None,
        synonyms: Mapping[str, str] | None = None,
    ) -> None:
        self._regexes = {
            name: _compile_regexes(name, patterns) for name, patterns in (regexes or {}).items()
        }
        self._lookups = {
            name: pattern
            for name, phrases in (lookups or {}).items()
            if (pattern := _lookup_pattern(phrases)) is not None
        }
        self._synonyms = {k.lower(): v for k, v in (synonyms or {}).items()}

        values: dict[str, list[str]] = {}
        surfaces: dict[str, set[str]] = {}
        for example in examples:
            for span in example.entities:
                values.setdefault(span.entity, []).append(span.value)
                text = example.text[span.start : span.end]
                surfaces.setdefault(span.entity, set()).add(text.lower())
                if span.value != text:
                    # `[NYC]{"entity": "city", "value": "New York"}` is a synonym too (Rasa's
                    # EntitySynonymMapper learns these from the training data).
                    self._synonyms.setdefault(text.lower(), span.value)
        self.entity_names = frozenset(values)
        self._durations = frozenset(
            name for name, vs in values.items() if name == DURATION or _all(parse_duration, vs)
        )
        self._numbers = frozenset(
            name
            for name, vs in values.items()
            if name not in self._durations and (name == NUMBER or _all(_quantity, vs))
        )
        # An entity whose every annotated value is listed in one lookup table (unit_from and
        # unit_to in the "unit" table) is a closed class: the CRF only finds where it is, the
        # table says what it is. Without this the CRF tags any word in a unit's place
        # ("how long to drive to [manchester]") and splits "miles per hour".
        vocabularies = {
            name: {p.strip().lower() for p in phrases} for name, phrases in (lookups or {}).items()
        }
        self._closed = {
            entity: table
            for entity, said in surfaces.items()
            if entity not in self._lookups
            for table, vocabulary in vocabularies.items()
            if table in self._lookups and said <= vocabulary
        }
        self._crf = None
        if not self.entity_names:
            return  # nothing annotated: nothing to learn, and extract() finds nothing

        self._crf = self._tagger(examples, regexes, lookups, synonyms)
        log.debug(
            "entities: CRF trained on %d examples, entities %s (durations %s, numbers %s)",
            len(examples),
            sorted(self.entity_names),
            sorted(self._durations),
            sorted(self._numbers),
        )

    def _tagger(
        self,
        examples: Sequence[Example],
        regexes: Mapping[str, Sequence[str]] | None,
        lookups: Mapping[str, Sequence[str]] | None,
        synonyms: Mapping[str, str] | None,
    ) -> Any:
        """The CRF tagger of these examples: trained once, then kept in the cache under a key of
        everything its features come from (see `assistant.nlu.fitted`)."""
        import pycrfsuite

        data = [
            (e.text, [(a.start, a.end, a.entity, a.value) for a in e.entities]) for e in examples
        ]
        settings = [self.c1, self.c2, self.max_iterations]
        key = fit_key("entities", data, regexes, lookups, synonyms, settings)
        path = fitted_path("entities", key).with_suffix(".crfsuite")
        if not path.is_file():
            self._train_crf(examples, path)
        tagger = pycrfsuite.Tagger()
        tagger.open(str(path))
        return tagger

    def _train_crf(self, examples: Sequence[Example], path: Path) -> None:
        import pycrfsuite

        trainer = pycrfsuite.Trainer(algorithm="lbfgs", verbose=False)
        trainer.set_params(
            {
                "c1": self.c1,
                "c2": self.c2,
                "max_iterations": self.max_iterations,
                "feature.possible_transitions": True,
            }
        )
        for example in examples:
            tokens, features = self._sequence(example.text)
            tags = self._labels(tokens, example)
            trainer.append(features, tags)
            if example.entities:
                # A second copy as if the entity's words were new: not seen before, in no lookup
                # (a new value still fits a regex, which describes a form). The CRF must then
                # also learn the context ("add ... to my list"), which is what finds values that
                # neither the examples nor the lookups list.
                unseen = frozenset(i for i, tag in enumerate(tags) if tag != "O")
                trainer.append(self._sequence(example.text, unseen, lookups=False)[1], tags)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            trainer.train(str(partial))
            os.replace(partial, path)  # readers never see half a model
        except OSError as exc:  # a read-only cache: this process keeps its own copy
            log.warning("cannot keep the entity model in %s: %s", path, exc)
            path = Path(tempfile.mkdtemp(prefix="assistant-crf-")) / path.name
            trainer.train(str(path))

    @staticmethod
    def _labels(tokens: list[Token], example: Example) -> list[str]:
        """BILOU tags: a token belongs to an entity if it overlaps the annotated span."""
        tags = ["O"] * len(tokens)
        for span in example.entities:
            inside = [i for i, t in enumerate(tokens) if t.start < span.end and t.end > span.start]
            if not inside or any(tags[i] != "O" for i in inside):
                continue  # empty or overlapping annotation: skip rather than guess
            if len(inside) == 1:
                tags[inside[0]] = f"U-{span.entity}"
                continue
            tags[inside[0]] = f"B-{span.entity}"
            for i in inside[1:-1]:
                tags[i] = f"I-{span.entity}"
            tags[inside[-1]] = f"L-{span.entity}"
        return tags

    # --- features --------------------------------------------------------------------------------

    def _sequence(
        self,
        text: str,
        unseen: frozenset[int] = frozenset(),
        lookups: bool = True,
        system: SystemSpans | None = None,
    ) -> tuple[list[Token], list[Features]]:
        """Features per token. Training masks the words of the tokens in `unseen` and, without
        `lookups`, the lookup matches (see `train`)."""
        tokens = tokenize(text)
        marks: list[list[str]] = [[] for _ in tokens]

        def mark(name: str, start: int, end: int) -> None:
            for i, token in enumerate(tokens):
                if token.start < end and token.end > start:
                    marks[i].append(name)

        for name, pattern in self._lookups.items() if lookups else ():
            for match in pattern.finditer(text):
                mark(f"lookup:{name}", *match.span())
        for name, regexes in self._regexes.items():
            for regex in regexes:
                for match in regex.finditer(text):
                    if match.end() > match.start():
                        mark(f"regex:{name}", *match.span())
        durations, numbers = system or _system_spans(text)
        for start, end, _ in durations:
            mark("sys:duration", start, end)
        for start, end, _ in numbers:
            mark("sys:number", start, end)

        local = [self._token_features(t, m) for t, m in zip(tokens, marks, strict=True)]
        features: list[Features] = []
        for i, token in enumerate(tokens):
            feats: Features = {"bias": 1.0, "title": float(token.text.istitle()), **local[i]}
            if i not in unseen:
                word = token.lower
                feats.update(word=word, prefix3=word[:3], suffix3=word[-3:])
            for offset in (-2, -1, 1, 2):
                j = i + offset
                if 0 <= j < len(tokens):
                    near = local[j]
                    if j not in unseen:
                        feats[f"{offset}:word"] = tokens[j].lower
                    if abs(offset) == 1:
                        feats.update({f"{offset}:{k}": v for k, v in near.items()})
                    else:
                        for key in ("numword", "timeunit"):
                            if key in near:
                                feats[f"{offset}:{key}"] = near[key]
                else:
                    feats[f"{offset}:edge"] = 1.0  # before the start / past the end
            features.append(feats)
        return tokens, features

    @staticmethod
    def _token_features(token: Token, marks: list[str]) -> Features:
        word = token.lower
        feats: Features = {"shape": _shape(token.text)}
        if token.text.lstrip("-").replace(",", "").replace(".", "").isdigit():
            feats["digit"] = 1.0
        if word in NUMBER_WORDS:
            feats["numword"] = 1.0
        if word in TIME_UNIT_WORDS:
            feats["timeunit"] = 1.0
        for name in marks:
            feats[name] = 1.0
        return feats

    # --- extraction ------------------------------------------------------------------------------

    def extract(self, text: str) -> tuple[Entity, ...]:
        if not self.entity_names or not text.strip():
            return ()
        system = _system_spans(text)
        learnt = [*self._closed_to_lookup(text, self._from_crf(text, system))]
        learnt += self._from_patterns(text)
        # The rules complete the learnt entities of their own type ("two hours and fifteen" ->
        # "... minutes") and fill in where nothing was found, but do not relabel what the CRF, a
        # regex or a lookup tagged only as other entities: "2 hours" in "how many seconds in
        # 2 hours" is a number and a unit, not a duration.
        rules = []
        for rule in self._from_rules(system):
            types = {c.entity for c in learnt if _overlap(c, rule)}
            if not types or rule.entity in types:
                rules.append(rule)
        candidates = learnt + rules
        # Best first: values that parsed, then longer spans, then the more trusted extractor.
        candidates.sort(key=lambda c: (not c.normalized, c.start - c.end, _PRIORITY[c.extractor]))
        chosen: list[_Candidate] = []
        for candidate in candidates:
            if not any(_overlap(candidate, c) for c in chosen):
                chosen.append(candidate)
        chosen.sort(key=lambda c: c.start)
        return tuple(
            Entity(
                entity=c.entity,
                value=c.value,
                text=text[c.start : c.end],
                start=c.start,
                end=c.end,
                extractor=c.extractor,
            )
            for c in chosen
        )

    def _from_crf(self, text: str, system: SystemSpans) -> list[_Candidate]:
        if self._crf is None:
            return []
        tokens, features = self._sequence(text, system=system)
        if not tokens:
            return []
        with self._lock:  # one pycrfsuite Tagger is not safe to share between threads
            tags: list[str] = self._crf.tag(features)
        found: list[_Candidate] = []
        current: tuple[str, int] | None = None  # (entity, first token)

        def close(last: int) -> None:
            nonlocal current
            if current is not None:
                entity, first = current
                found.append(self._candidate(text, entity, tokens[first].start, tokens[last].end))
                current = None

        # Lenient BILOU decoding: a missing B or L still yields the span the tags cover.
        for i, tag in enumerate(tags):
            if tag == "O":
                close(i - 1)
                continue
            prefix, entity = tag.split("-", 1)
            if prefix in ("B", "U") or current is None or current[0] != entity:
                close(i - 1)
                current = (entity, i)
            if prefix in ("L", "U"):
                close(i)
        close(len(tags) - 1)
        return found

    def _closed_to_lookup(self, text: str, found: list[_Candidate]) -> list[_Candidate]:
        """CRF spans of closed-class entities become the lookup entries they overlap (all of
        each: "miles" + "per hour" -> "miles per hour"); those overlapping none are dropped."""
        kept: dict[tuple[str, int, int], _Candidate] = {}
        for candidate in found:
            table = self._closed.get(candidate.entity)
            if table is None:
                kept[(candidate.entity, candidate.start, candidate.end)] = candidate
                continue
            for match in self._lookups[table].finditer(text):
                start, end = match.span()
                if start < candidate.end and candidate.start < end:
                    kept[(candidate.entity, start, end)] = self._candidate(
                        text, candidate.entity, start, end
                    )
        return list(kept.values())

    def _from_patterns(self, text: str) -> list[_Candidate]:
        found: list[_Candidate] = []
        for name, patterns in self._regexes.items():
            if name in self.entity_names:
                for regex in patterns:
                    for match in regex.finditer(text):
                        if match.end() > match.start():
                            found.append(self._candidate(text, name, *match.span(), "regex"))
        for name, pattern in self._lookups.items():
            if name in self.entity_names:
                for match in pattern.finditer(text):
                    found.append(self._candidate(text, name, *match.span(), "lookup"))
        return found

    def _from_rules(self, system: SystemSpans) -> list[_Candidate]:
        found: list[_Candidate] = []
        if DURATION in self.entity_names:
            found += [
                _Candidate(DURATION, start, end, seconds, "system", True)
                for start, end, seconds in system[0]
            ]
        if NUMBER in self.entity_names:
            found += [
                _Candidate(NUMBER, start, end, value, "system", True)
                for start, end, value in system[1]
            ]
        return found

    def _candidate(
        self, text: str, entity: str, start: int, end: int, extractor: str = "crf"
    ) -> _Candidate:
        surface = text[start:end]
        canonical = self._synonyms.get(surface.lower(), surface)
        if entity in self._durations or entity in self._numbers:
            parse = parse_duration if entity in self._durations else parse_number
            value = parse(surface)
            if value is None:
                value = parse(canonical)
            if value is None:  # keep the words; the rules may offer a span that parses
                return _Candidate(entity, start, end, canonical, extractor, False)
            return _Candidate(entity, start, end, value, extractor, True)
        return _Candidate(entity, start, end, canonical, extractor, True)


def _overlap(a: _Candidate, b: _Candidate) -> bool:
    return a.start < b.end and b.start < a.end


def _system_spans(text: str) -> SystemSpans:
    return find_durations(text), find_numbers(text)


def _all(parse: Callable[[str], object], values: Sequence[str]) -> bool:
    return bool(values) and all(parse(v) is not None for v in values)


def _quantity(value: str) -> float | None:
    """A number that is a quantity: "02139" has digits but is a code (zip, PIN), kept as text."""
    return None if re.match(r"\s*-?0\d", value) else parse_number(value)
