"""The NLU benchmark's data sets and scoring (benchmarks/nlu.py); fast, no model is loaded."""

from __future__ import annotations

from collections import Counter

import pytest

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.skills.loader import EntitySpan, load_skills, parse_example
from benchmarks.nlu import (
    DATA_SETS,
    NORMALIZED,
    Counts,
    canonical_value,
    load_examples,
    macro_f1,
    normalize_text,
    scored_intents,
    span_counts,
    training_texts,
    value_counts,
)

SKILLS = load_skills((BUILTIN_SKILLS_DIR,))
HELD_OUT = load_examples(DATA_SETS["heldout"])
DEV = load_examples(DATA_SETS["dev"])


@pytest.mark.parametrize("examples", [HELD_OUT, DEV], ids=["heldout", "dev"])
def test_data_set_parses_and_annotates_known_entities(examples: list) -> None:
    entity_names = {s.entity for e in SKILLS.examples for s in e.entities}
    assert examples
    for example in examples:
        assert example.text and "[" not in example.text and "]" not in example.text, example
        for span in example.entities:
            assert span.entity in entity_names, example
            assert 0 <= span.start < span.end <= len(example.text), example
            if span.entity in ("duration", "number"):
                float(span.value)  # values are written by hand as numbers


def test_held_out_covers_every_intent_the_skills_define() -> None:
    counts = Counter(e.intent for e in HELD_OUT)
    assert set(counts) == set(scored_intents(SKILLS))
    assert min(counts.values()) >= 12, counts


def test_dev_split_covers_every_intent() -> None:
    assert {e.intent for e in DEV} == set(scored_intents(SKILLS))


def test_no_benchmark_line_is_a_training_example_or_in_both_splits() -> None:
    trained = training_texts(SKILLS)
    held_out = {normalize_text(e.text) for e in HELD_OUT}
    dev = {normalize_text(e.text) for e in DEV}
    assert held_out & trained == set()
    assert dev & trained == set()
    assert held_out & dev == set()
    assert len(held_out) == len(HELD_OUT), "a held-out line appears twice"


def test_normalize_text_ignores_case_punctuation_and_spacing() -> None:
    assert normalize_text("  What's the TIME,  please? ") == "what's the time please"


# --- scoring -------------------------------------------------------------------------------------


def spans(line: str) -> tuple[EntitySpan, ...]:
    return parse_example(line, "any").entities


def test_span_match_needs_the_same_type_and_characters() -> None:
    gold = spans("convert [5](number) [miles](unit_from) to [km](unit_to)")
    exact = spans("convert [5](number) [miles](unit_from) to [km](unit_to)")
    assert span_counts(gold, exact) == Counts(tp=3, fp=0, fn=0)
    # The wrong type on the right span and a span a word too long are both misses.
    wrong = spans("convert [5](number) [miles](unit_to) to [km please](unit_to)")
    assert span_counts(gold, wrong) == Counts(tp=1, fp=2, fn=2)
    assert span_counts(gold, ()) == Counts(tp=0, fp=0, fn=3)
    assert span_counts((), gold) == Counts(tp=0, fp=3, fn=0)


def test_each_gold_entity_is_matched_once() -> None:
    gold = spans("[2](number) plus [2](number)")
    doubled = (*gold, gold[0])
    assert span_counts(gold, doubled) == Counts(tp=2, fp=1, fn=0)


def test_value_match_normalises_numbers_and_ignores_spans() -> None:
    gold = spans(
        'set a timer for [ten minutes]{"entity": "duration", "value": "600"} and '
        '[three]{"entity": "number", "value": "3"} [kilos]{"entity": "unit_from", '
        '"value": "kilogram"} of [rice](item)'
    )
    # Spans one word wider, numeric types that differ (600 vs "600"), case: all the same value.
    predicted = spans(
        'set a timer [for ten minutes]{"entity": "duration", "value": "600.0"} and '
        '[three]{"entity": "number", "value": "3"} [kilos]{"entity": "unit_from", '
        '"value": "Kilogram"} of [rice and](item)'
    )
    assert value_counts(gold, predicted) == Counts(tp=3, fp=0, fn=0)  # item is not scored
    assert "item" not in NORMALIZED
    wrong = spans('a timer for [ten minutes]{"entity": "duration", "value": "60"}')
    assert value_counts(gold, wrong) == Counts(tp=0, fp=1, fn=3)


def test_canonical_value() -> None:
    assert canonical_value(600) == canonical_value("600") == canonical_value(600.0)
    assert canonical_value(" Mile  per hour") == "mile per hour"
    assert canonical_value("0.5") != canonical_value("5")


def test_precision_recall_f1() -> None:
    counts = Counts(tp=3, fp=1, fn=2)
    assert counts.precision == pytest.approx(0.75)
    assert counts.recall == pytest.approx(0.6)
    assert counts.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert Counts().f1 == 0.0  # nothing found, nothing to find: no division by zero
    assert Counts(1, 0, 0) + Counts(0, 1, 1) == Counts(1, 1, 1)


def test_macro_f1_averages_over_labels() -> None:
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("c", "c")]
    # a: P 1, R 0.5 -> 2/3; b: P 0.5, R 1 -> 2/3; c: 1.
    assert macro_f1(pairs, ["a", "b", "c"]) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    # A label that is neither gold nor predicted does not count.
    assert macro_f1(pairs, ["a", "b", "c", "d"]) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert macro_f1([("a", "b")], ["a", "b"]) == 0.0
