"""The item entity's helpers (issue 14, item 2): entities kept only for the intents that annotate
them, the lookup's place-in-phrase features, the value-swapped training copies; and the counts
that "make it three" rewrites."""

from __future__ import annotations

import pytest

from assistant.nlu.entities import EntityExtractor
from assistant.nlu.entity_features import sequence_features
from assistant.nlu.entity_training import SWAPS, _swapped, learn_schema
from assistant.skills.loader import parse_example
from assistant.skills.shopping.quantity import count_of, with_count

EXAMPLES = [
    parse_example(text, intent)
    for intent, texts in {
        "add_to_list": [
            "add [eggs](item) to my list",
            "put [oat milk](item) on the shopping list",
            "we need [washing up liquid](item)",
            "add [bread](item) and [butter](item) to the list",
            "i'm out of [coffee](item)",
            "add [two lemons](item) to my list",
            "please add [rice](item) to my shopping list",
            "we're out of [dish soap](item)",
        ],
        "remove_from_list": [
            "remove [eggs](item) from my list",
            "take the [milk](item) off",
            "cross off the [bananas](item)",
            "delete [rice](item) from the list",
        ],
        "set_timer": [
            "set a timer for [ten minutes](duration)",
            "timer for [an hour](duration)",
        ],
        "chitchat": ["do you like pizza", "what's your favourite food"],
    }.items()
    for text in texts
]
LOOKUPS = {"grocery": ["eggs", "milk", "oat milk", "bread", "salmon", "washing up liquid"]}


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    trained = EntityExtractor()
    trained.train(EXAMPLES, lookups=LOOKUPS)
    return trained


def test_items_are_kept_only_for_intents_that_annotate_them(extractor: EntityExtractor) -> None:
    text = "add salmon to my list"
    assert [e.text for e in extractor.extract(text) if e.entity == "item"] == ["salmon"]
    assert [e.text for e in extractor.extract(text, "add_to_list")] == ["salmon"]
    assert extractor.extract(text, "chitchat") == ()  # chitchat annotates no item
    assert extractor.extract(text, "out_of_scope") == ()  # no examples: annotates nothing
    # The number and duration rules stay, whatever the intent.
    timer = extractor.extract("set a timer for ten minutes", "chitchat")
    assert [(e.entity, e.value) for e in timer] == [("duration", 600)]


def test_a_lookup_marks_where_in_its_phrase_a_token_is() -> None:
    schema = learn_schema(EXAMPLES, lookups=LOOKUPS)
    tokens, features = sequence_features("add washing up liquid", {}, schema.lookups)
    marks = [
        sorted(k for k in f if k.startswith("lookup:grocery:")) for f in features
    ]  # own marks only, not the neighbours' ("-1:lookup:...")
    assert [t.text for t in tokens] == ["add", "washing", "up", "liquid"]
    assert marks == [[], ["lookup:grocery:B"], ["lookup:grocery:I"], ["lookup:grocery:L"]]


def test_training_swaps_in_other_values_of_free_text_entities() -> None:
    schema = learn_schema(EXAMPLES, lookups=LOOKUPS)
    copies = list(_swapped(EXAMPLES, schema))
    annotated = [e for e in EXAMPLES if any(s.entity == "item" for s in e.entities)]
    assert len(copies) == SWAPS * len(annotated)  # the durations are not swapped
    seen = {e.text[s.start : s.end] for e in annotated for s in e.entities}
    for copy in copies:
        assert copy.intent in ("add_to_list", "remove_from_list")
        for span in copy.entities:
            assert copy.text[span.start : span.end] == span.value
            assert span.value in seen
    assert copies != [e for e in annotated for _ in range(SWAPS)]


@pytest.mark.parametrize(
    ("item", "count", "changed"),
    [
        ("two lemons", 3, "three lemons"),
        ("2 pints of milk", 1, "1 pint of milk"),
        ("eggs", 12, "twelve eggs"),
        ("a bag of onions", 2, "two bags of onions"),
        ("two tomatoes", 1, "one tomato"),
        ("a cherry", 3, "three cherries"),
        ("a dozen eggs", 2, "two dozen eggs"),
        ("half a dozen bagels", 3, "three bagels"),
        ("some apples", 30, "30 apples"),
    ],
)
def test_with_count_rewrites_the_count_as_said(item: str, count: int, changed: str) -> None:
    assert with_count(item, count) == changed


def test_count_of() -> None:
    assert count_of("two lemons") == (2, "lemons")
    assert count_of("12 eggs") == (12, "eggs")
    assert count_of("an avocado") == (1, "avocado")
    assert count_of("lemons") == (None, "lemons")


def test_the_benchmark_counts_a_removal_resolved_against_the_list() -> None:
    from assistant.nlu.results import Entity
    from benchmarks.nlu import DISTRACTORS, Row, resolved_item_counts, shopping_list

    def row(annotated: str, gold: str, predicted: str, said: list[tuple[int, int]]) -> Row:
        example = parse_example(annotated, gold)
        text = example.text
        found = tuple(
            Entity(entity="item", value=text[a:b], text=text[a:b], start=a, end=b) for a, b in said
        )
        return Row(text, gold, predicted, 1.0, example.entities, found, 1.0)

    rows = [
        row("add [oat milk](item) and [eggs](item)", "add_to_list", "add_to_list", [(4, 12)]),
        row("take the [eggs](item) off", "remove_from_list", "remove_from_list", []),
        row(
            "i don't need [milk](item) anymore", "remove_from_list", "remove_from_list", [(13, 25)]
        ),
        row("remove [eggs](item)", "remove_from_list", "show_list", []),
    ]
    assert [e.text for e in rows[2].entities] == ["milk anymore"]
    entries = shopping_list(rows)
    assert entries[:3] == ["oat milk", "eggs", "milk"] and set(DISTRACTORS) <= set(entries)
    counts = [resolved_item_counts(r, entries) for r in rows]
    assert (counts[0].tp, counts[0].fn) == (1, 1)  # not a removal: the raw spans
    assert (counts[1].tp, counts[1].fp, counts[1].fn) == (1, 0, 0)  # found in the words
    assert (counts[2].tp, counts[2].fp, counts[2].fn) == (1, 0, 0)  # "milk anymore" is milk
    assert (counts[3].tp, counts[3].fn) == (0, 1)  # understood as another intent: not resolved
