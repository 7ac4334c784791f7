"""What the entity extractor learns from the skills' `nlu.yml`: an `EntitySchema` and a CRF.

The schema is everything but the CRF: the annotated entity names, and which intents annotate
which; the `regex` and `lookup` entries, compiled; the synonyms, both those listed and those
the annotations imply (`[NYC]{"entity": "city", "value": "New York"}`, as Rasa's
EntitySynonymMapper learns them); which entities hold durations or numbers, so their values are
parsed; and which are closed classes, whose every annotated value one lookup table lists.

The CRF (python-crfsuite, imported only once something is annotated) tags tokens with
BILOU labels from the features of `assistant.nlu.entity_features`. Each annotated example is
learnt twice, the second time as if the entity's words were new (see `_training_sequences`),
and, when its entities are free text, `SWAPS` more times with other values of them (`_swapped`).
It is trained once and kept in the cache under a key of everything its features come from
(`assistant.nlu.fitted`), so a start only opens it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant.core.paths import kept_file
from assistant.nlu.entity_features import FEATURES_VERSION, Features, sequence_features
from assistant.nlu.fitted import fit_key, fitted_path
from assistant.nlu.numbers import Token, parse_duration, parse_number
from assistant.skills.loader import Example
from assistant.skills.nlu_data import EntitySpan

DURATION = "duration"
NUMBER = "number"
# Copies of each example whose free-text entities hold other values (see `_swapped`); part of
# the key the CRF is cached under, as is how they are made (TRAINING_VERSION).
SWAPS = 2
TRAINING_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class EntitySchema:
    entity_names: frozenset[str] = frozenset()
    regexes: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    lookups: dict[str, re.Pattern[str]] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)  # lowercased surface -> value
    durations: frozenset[str] = frozenset()  # entities whose values are durations
    numbers: frozenset[str] = frozenset()  # entities whose values are numbers
    closed: dict[str, str] = field(default_factory=dict)  # entity -> the table listing its values
    # intent -> the entities its examples annotate (every intent with examples is a key)
    by_intent: dict[str, frozenset[str]] = field(default_factory=dict)


def learn_schema(
    examples: Sequence[Example],
    regexes: Mapping[str, Sequence[str]] | None = None,
    lookups: Mapping[str, Sequence[str]] | None = None,
    synonyms: Mapping[str, str] | None = None,
) -> EntitySchema:
    """The schema of the annotated `examples`; ValueError if a regex does not compile."""
    compiled_regexes = {
        name: _compile_regexes(name, patterns) for name, patterns in (regexes or {}).items()
    }
    compiled_lookups = {
        name: pattern
        for name, phrases in (lookups or {}).items()
        if (pattern := _lookup_pattern(phrases)) is not None
    }
    all_synonyms = {k.lower(): v for k, v in (synonyms or {}).items()}
    values, surfaces, implied = _annotations(examples)
    for surface, value in implied.items():
        all_synonyms.setdefault(surface, value)
    durations, numbers = _value_types(values)
    return EntitySchema(
        entity_names=frozenset(values),
        regexes=compiled_regexes,
        lookups=compiled_lookups,
        synonyms=all_synonyms,
        durations=durations,
        numbers=numbers,
        closed=_closed_classes(surfaces, lookups or {}, compiled_lookups),
        by_intent=_entities_by_intent(examples),
    )


def crf_tagger(
    examples: Sequence[Example],
    schema: EntitySchema,
    regexes: Mapping[str, Sequence[str]] | None,
    lookups: Mapping[str, Sequence[str]] | None,
    synonyms: Mapping[str, str] | None,
    *,
    c1: float,
    c2: float,
    max_iterations: int,
) -> Any:
    """The CRF tagger of these examples: trained once, then kept in the cache under a key of
    everything its features come from (see `assistant.nlu.fitted`). `schema` is what
    `learn_schema` made of the same examples, regexes, lookups and synonyms."""
    import pycrfsuite

    data = [
        (e.text, [(a.start, a.end, crf_label(a.entity, a.role, a.group), a.value) for a in spans])
        for e in examples
        for spans in (e.entities,)
    ]
    settings = [c1, c2, max_iterations, FEATURES_VERSION, SWAPS, TRAINING_VERSION]
    key = fit_key("entities", data, regexes, lookups, synonyms, settings)
    path = fitted_path("entities", key).with_suffix(".crfsuite")
    if not path.is_file():
        path = _train_crf(examples, schema, path, c1=c1, c2=c2, max_iterations=max_iterations)
    tagger = pycrfsuite.Tagger()
    tagger.open(str(path))
    return tagger


def _train_crf(
    examples: Sequence[Example],
    schema: EntitySchema,
    path: Path,
    *,
    c1: float,
    c2: float,
    max_iterations: int,
) -> Path:
    """Train into `path` (written whole or not at all); where the model is."""
    import pycrfsuite

    trainer = pycrfsuite.Trainer(algorithm="lbfgs", verbose=False)
    trainer.set_params(
        {
            "c1": c1,
            "c2": c2,
            "max_iterations": max_iterations,
            "feature.possible_transitions": True,
        }
    )
    for features, tags in _training_sequences(examples, schema):
        trainer.append(features, tags)
    return kept_file(path, lambda out: trainer.train(str(out)), what="the entity model")


def _training_sequences(
    examples: Sequence[Example], schema: EntitySchema
) -> Iterator[tuple[list[Features], list[str]]]:
    """(features, BILOU tags) of each example, in order, and of its masked copy."""
    for example in examples:
        tokens, features = sequence_features(example.text, schema.regexes, schema.lookups)
        tags = bilou_labels(tokens, example)
        yield features, tags
        if example.entities:
            # A second copy as if the entity's words were new: not seen before, in no lookup
            # (a new value still fits a regex, which describes a form). The CRF must then
            # also learn the context ("add ... to my list"), which is what finds values that
            # neither the examples nor the lookups list.
            unseen = frozenset(i for i, tag in enumerate(tags) if tag != "O")
            yield sequence_features(example.text, schema.regexes, {}, unseen)[1], tags
    for example in _swapped(examples, schema):
        tokens, features = sequence_features(example.text, schema.regexes, schema.lookups)
        yield features, bilou_labels(tokens, example)


def _swapped(examples: Sequence[Example], schema: EntitySchema) -> Iterator[Example]:
    """`SWAPS` copies of each example with a free-text entity (no duration, number or closed
    class), each such entity holding another value annotated for it elsewhere: "remove the
    [eggs]" is also learnt as "remove the [washing up liquid]", so that where a value ends
    does not depend on the values a sentence was seen with. Chosen in a fixed order, so the
    same data trains the same CRF."""
    fixed = schema.durations | schema.numbers | frozenset(schema.closed)
    pools: dict[str, list[str]] = {}
    for example in examples:
        for span in example.entities:
            if span.entity not in fixed:
                said = example.text[span.start : span.end]
                if said.strip() and said not in pools.setdefault(span.entity, []):
                    pools[span.entity].append(said)
    turn = 0
    for example in examples:
        spans = sorted(example.entities, key=lambda s: s.start)
        if not any(len(pools.get(s.entity, ())) > 1 for s in spans):
            continue
        for _ in range(SWAPS):
            turn += 1
            yield _with_values(example, spans, pools, turn)


def _with_values(
    example: Example, spans: list[EntitySpan], pools: Mapping[str, list[str]], turn: int
) -> Example:
    """The example with each span of a pooled entity replaced by the pool's value at `turn`
    (skipping the value it had); other spans keep their words, moved along."""
    text, moved, last = "", [], 0
    for k, span in enumerate(spans):
        said = example.text[span.start : span.end]
        pool = [v for v in pools.get(span.entity, ()) if v != said]
        value = pool[(turn * 7 + k * 13) % len(pool)] if pool else said
        text += example.text[last : span.start]
        moved.append(replace(span, value=value, start=len(text), end=len(text) + len(value)))
        text += value
        last = span.end
    return Example(text + example.text[last:], example.intent, tuple(moved))


ROLE_SEP = "|"


def crf_label(entity: str, role: str | None, group: str | None) -> str:
    """The CRF learns an entity with a role or a group as a label of its own: `city|from|`."""
    if role is None and group is None:
        return entity
    return ROLE_SEP.join((entity, role or "", group or ""))


def split_label(label: str) -> tuple[str, str | None, str | None]:
    if ROLE_SEP not in label:
        return label, None, None
    entity, role, group = label.split(ROLE_SEP, 2)
    return entity, role or None, group or None


def bilou_labels(tokens: list[Token], example: Example) -> list[str]:
    """BILOU tags: a token belongs to an entity if it overlaps the annotated span."""
    tags = ["O"] * len(tokens)
    for span in example.entities:
        label = crf_label(span.entity, span.role, span.group)
        inside = [i for i, t in enumerate(tokens) if t.start < span.end and t.end > span.start]
        if not inside or any(tags[i] != "O" for i in inside):
            continue  # empty or overlapping annotation: skip rather than guess
        if len(inside) == 1:
            tags[inside[0]] = f"U-{label}"
            continue
        tags[inside[0]] = f"B-{label}"
        for i in inside[1:-1]:
            tags[i] = f"I-{label}"
        tags[inside[-1]] = f"L-{label}"
    return tags


def _annotations(
    examples: Sequence[Example],
) -> tuple[dict[str, list[str]], dict[str, set[str]], dict[str, str]]:
    """Per entity, its annotated values and (lowercased) surface texts; and the synonyms the
    annotations imply: a surface text whose value differs, lowercased, to that value."""
    values: dict[str, list[str]] = {}
    surfaces: dict[str, set[str]] = {}
    implied: dict[str, str] = {}
    for example in examples:
        for span in example.entities:
            values.setdefault(span.entity, []).append(span.value)
            text = example.text[span.start : span.end]
            surfaces.setdefault(span.entity, set()).add(text.lower())
            if span.value != text:
                implied.setdefault(text.lower(), span.value)
    return values, surfaces, implied


def _entities_by_intent(examples: Sequence[Example]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for example in examples:
        found.setdefault(example.intent, set()).update(span.entity for span in example.entities)
    return {intent: frozenset(names) for intent, names in found.items()}


def _value_types(values: Mapping[str, Sequence[str]]) -> tuple[frozenset[str], frozenset[str]]:
    """(duration entities, number entities): named so, or every annotated value parses so."""
    durations = frozenset(
        name for name, vs in values.items() if name == DURATION or _all(parse_duration, vs)
    )
    numbers = frozenset(
        name
        for name, vs in values.items()
        if name not in durations and (name == NUMBER or _all(_quantity, vs))
    )
    return durations, numbers


def _closed_classes(
    surfaces: Mapping[str, set[str]],
    lookups: Mapping[str, Sequence[str]],
    compiled_lookups: Mapping[str, re.Pattern[str]],
) -> dict[str, str]:
    """Entity -> the lookup table that lists every value annotated for it.

    Such an entity (unit_from and unit_to in the "unit" table) is a closed class: the CRF only
    finds where it is, the table says what it is. Without this the CRF tags any word in a
    unit's place ("how long to drive to [manchester]") and splits "miles per hour"."""
    vocabularies = {name: {p.strip().lower() for p in phrases} for name, phrases in lookups.items()}
    return {
        entity: table
        for entity, said in surfaces.items()
        if entity not in compiled_lookups
        for table, vocabulary in vocabularies.items()
        if table in compiled_lookups and said <= vocabulary
    }


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


def _all(parse: Callable[[str], object], values: Sequence[str]) -> bool:
    return bool(values) and all(parse(v) is not None for v in values)


def _quantity(value: str) -> float | None:
    """A number that is a quantity: "02139" has digits but is a code (zip, PIN), kept as text."""
    return None if re.match(r"\s*-?0\d", value) else parse_number(value)
