"""Entity extraction learnt from the `[value](entity)` annotations of the skills' `nlu.yml`.

Three sources, as in a Rasa pipeline, merged into one answer:

- a linear-chain CRF (Rasa's CRFEntityExtractor) tagging tokens with BILOU labels; its features
  include the `regex` and `lookup` entries of nlu.yml, so those also help entities they do not
  list word for word;
- `regex` and `lookup` entries named after an annotated entity, which produce that entity wherever
  they match (Rasa's RegexEntityExtractor);
- the rule-based system entities of `assistant.nlu.numbers` (duration, number), run when the
  training data uses those names, as Duckling would be.

Given the intent the text was understood as, only the learnt entities that intent's examples
annotate are kept: a CRF sees words, not what the sentence asks for, and a food in a question
about wine is not a shopping item.

Values are normalised: durations to seconds, numbers to int/float, everything else through the
synonyms. Overlapping candidates are resolved so that each character belongs to one entity.

Training (`assistant.nlu.entity_training`) learns the schema of the entities and the CRF; the
CRF's token features are in `assistant.nlu.entity_features`. This module merges the sources.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from assistant.nlu.entity_features import SystemSpans, sequence_features, system_spans
from assistant.nlu.entity_training import (
    DURATION,
    NUMBER,
    EntitySchema,
    crf_tagger,
    learn_schema,
    split_label,
)
from assistant.nlu.numbers import parse_duration, parse_number
from assistant.nlu.results import Entity
from assistant.skills.loader import Example

log = logging.getLogger(__name__)

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
    role: str | None = None
    group: str | None = None


class EntityExtractor:
    """Train with the skills' examples, regexes, lookups and synonyms; then `extract(text)`.

    Safe to call `extract` from several threads: the CRF tagger is guarded by a lock.
    """

    def __init__(self, *, c1: float = 0.01, c2: float = 0.01, max_iterations: int = 100) -> None:
        self.c1 = c1
        self.c2 = c2
        self.max_iterations = max_iterations
        self._schema = EntitySchema()
        self._crf: Any = None
        self._lock = threading.Lock()

    @property
    def entity_names(self) -> frozenset[str]:
        return self._schema.entity_names

    def train(
        self,
        examples: Sequence[Example],
        regexes: Mapping[str, Sequence[str]] | None = None,
        lookups: Mapping[str, Sequence[str]] | None = None,
        synonyms: Mapping[str, str] | None = None,
    ) -> None:
        self._schema = learn_schema(examples, regexes, lookups, synonyms)
        self._crf = None
        if not self.entity_names:
            return  # nothing annotated: nothing to learn, and extract() finds nothing
        self._crf = crf_tagger(
            examples,
            self._schema,
            regexes,
            lookups,
            synonyms,
            c1=self.c1,
            c2=self.c2,
            max_iterations=self.max_iterations,
        )
        log.debug(
            "entities: CRF trained on %d examples, entities %s (durations %s, numbers %s)",
            len(examples),
            sorted(self.entity_names),
            sorted(self._schema.durations),
            sorted(self._schema.numbers),
        )

    def extract(self, text: str, intent: str | None = None) -> tuple[Entity, ...]:
        """The entities of `text`. Given the `intent` it was understood as, the learnt ones
        (CRF, regex, lookup) are kept only if that intent's examples annotate them: "salmon" in
        "what wine goes with salmon" is no shopping item, though it is one in "add salmon". The
        number and duration rules are kept whatever the intent (actions read them anywhere)."""
        if not self.entity_names or not text.strip():
            return ()
        system = system_spans(text)
        learnt = [*self._closed_to_lookup(text, self._from_crf(text, system))]
        learnt += self._from_patterns(text)
        if intent is not None:
            allowed = self._schema.by_intent.get(intent, frozenset())
            learnt = [c for c in learnt if c.entity in allowed]
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
        chosen = [_with_role(c, learnt) for c in chosen]
        return tuple(
            Entity(
                entity=c.entity,
                value=c.value,
                text=text[c.start : c.end],
                start=c.start,
                end=c.end,
                extractor=c.extractor,
                role=c.role,
                group=c.group,
            )
            for c in chosen
        )

    def _from_crf(self, text: str, system: SystemSpans) -> list[_Candidate]:
        if self._crf is None:
            return []
        schema = self._schema
        tokens, features = sequence_features(text, schema.regexes, schema.lookups, system=system)
        if not tokens:
            return []
        with self._lock:  # one pycrfsuite Tagger is not safe to share between threads
            tags: list[str] = self._crf.tag(features)
        found: list[_Candidate] = []
        current: tuple[str, int] | None = None  # (entity, first token)

        def close(last: int) -> None:
            nonlocal current
            if current is not None:
                label, first = current
                entity, role, group = split_label(label)
                candidate = self._candidate(text, entity, tokens[first].start, tokens[last].end)
                found.append(replace(candidate, role=role, group=group))
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
            table = self._schema.closed.get(candidate.entity)
            if table is None:
                kept[(candidate.entity, candidate.start, candidate.end)] = candidate
                continue
            for match in self._schema.lookups[table].finditer(text):
                start, end = match.span()
                if start < candidate.end and candidate.start < end:
                    kept[(candidate.entity, start, end)] = replace(
                        self._candidate(text, candidate.entity, start, end),
                        role=candidate.role,
                        group=candidate.group,
                    )
        return list(kept.values())

    def _from_patterns(self, text: str) -> list[_Candidate]:
        found: list[_Candidate] = []
        for name, patterns in self._schema.regexes.items():
            if name in self.entity_names:
                for regex in patterns:
                    for match in regex.finditer(text):
                        if match.end() > match.start():
                            found.append(self._candidate(text, name, *match.span(), "regex"))
        for name, pattern in self._schema.lookups.items():
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
        canonical = self._schema.synonyms.get(surface.lower(), surface)
        if entity in self._schema.durations or entity in self._schema.numbers:
            parse = parse_duration if entity in self._schema.durations else parse_number
            value = parse(surface)
            if value is None:
                value = parse(canonical)
            if value is None:  # keep the words; the rules may offer a span that parses
                return _Candidate(entity, start, end, canonical, extractor, False)
            return _Candidate(entity, start, end, value, extractor, True)
        return _Candidate(entity, start, end, canonical, extractor, True)


def _with_role(chosen: _Candidate, learnt: list[_Candidate]) -> _Candidate:
    """A regex or lookup match takes the role and group the CRF gave the same words (only the
    CRF learns roles: "from [Berlin]" and "to [Paris]" are both in the city lookup)."""
    if chosen.role is not None or chosen.group is not None:
        return chosen
    for other in learnt:
        labelled = other.role is not None or other.group is not None
        if labelled and other.entity == chosen.entity and _overlap(other, chosen):
            return replace(chosen, role=other.role, group=other.group)
    return chosen


def _overlap(a: _Candidate, b: _Candidate) -> bool:
    return a.start < b.end and b.start < a.end
