"""Entity extraction trained on a Rasa-format nlu.yml, checked on sentences it never saw."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from assistant.messages import Entity
from assistant.nlu.entities import EntityExtractor
from assistant.skills.loader import Skill, load_skill, parse_example

NLU_YML = r"""
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
    - hi there
    - good morning
    - hey assistant, how are you

- intent: set_timer
  examples: |
    - set a timer for [ten minutes](duration)
    - [5 minutes](duration) timer please
    - start a timer for [an hour](duration)
    - timer for [thirty seconds](duration)
    - can you set a [20 minute](duration) timer
    - set a timer for [half an hour](duration)
    - count down [2 hours](duration)
    - wake me up in [45 minutes](duration)
    - set a [three minute](duration) timer for the eggs
    - please start a timer of [1 hour and 30 minutes](duration)
    - timer [15 mins](duration)
    - give me a timer for [a minute and a half](duration)
    - start counting down from [90 seconds](duration)
    - I need a timer for [twenty five minutes](duration)
    - set the oven timer to [forty minutes](duration)
    - new timer [ten seconds](duration)
    - set timer [1h 15m](duration)
    - remind me in [two hours](duration) to check the laundry
    - put a timer on for [seven minutes](duration)
    - timer for [a quarter of an hour](duration) please

- intent: add_to_list
  examples: |
    - add [oat milk](item) to my list
    - put [eggs](item) on the shopping list
    - add [bananas](item) to the shopping list
    - please add [olive oil](item) to my shopping list
    - I need [bread](item), put it on the list
    - can you add [toilet paper](item) to the list
    - remember to buy [coffee beans](item)
    - add [peanut butter](item) to my groceries
    - put [greek yogurt](item) on my list
    - we're out of [dish soap](item), add it to the list
    - add [apples](item) please
    - add [a bag of rice](item) to the shopping list
    - shopping list add [tomatoes](item)
    - could you put [frozen peas](item) on the list
    - add [cheddar cheese](item) and [crackers](item) to my list
    - don't let me forget [orange juice](item)
    - put [butter](item) on the grocery list
    - add [paper towels](item) to my shopping list

- intent: calculate
  examples: |
    - what is [17](number) times [23](number)
    - what's [5](number) plus [7](number)
    - calculate [144](number) divided by [12](number)
    - how much is [twenty](number) minus [eight](number)
    - [3.5](number) times [4](number)
    - what is [one hundred](number) divided by [four](number)
    - add [250](number) and [375](number)
    - multiply [six](number) by [nine](number)
    - what's [1,000](number) minus [1](number)
    - what is [two thousand](number) plus [twenty](number)
    - [fifteen](number) percent of [80](number)
    - subtract [42](number) from [100](number)
    - what do you get if you multiply [12](number) by [12](number)
    - square root of [81](number)

- intent: convert_units
  examples: |
    - how many [centimeters](unit_to) in [3](number) [inches](unit_from)
    - convert [5](number) [miles](unit_from) to [kilometers](unit_to)
    - how many [grams](unit_to) are in [2](number) [pounds](unit_from)
    - what is [10](number) [kilograms](unit_from) in [pounds](unit_to)
    - convert [100](number) [fahrenheit](unit_from) to [celsius](unit_to)
    - [two](number) [cups](unit_from) in [milliliters](unit_to)
    - how many [feet](unit_to) is [one](number) [meter](unit_from)
    - convert [six](number) [ounces](unit_from) into [grams](unit_to)
    - what's [20](number) [celsius](unit_from) in [fahrenheit](unit_to)
    - change [3](number) [kilometres]{"entity":"unit_from","value":"kilometers"} to [miles](unit_to)
    - [12](number) [inches](unit_from) to [centimeters](unit_to) please

- intent: weather
  examples: |
    - what's the weather in [10001](zipcode)
    - forecast for [60614](zipcode) please
    - is it raining in [02139](zipcode)
    - will it snow in [30301](zipcode) this weekend
    - weather for [98101](zipcode) today
    - how hot is it in [85001](zipcode)
    - do I need an umbrella in [19103](zipcode) tonight
    - what's the temperature at [55401](zipcode) right now

- lookup: unit
  examples: |
    - centimeters
    - inches
    - miles
    - kilometers
    - grams
    - pounds
    - kilograms
    - fahrenheit
    - celsius
    - cups
    - milliliters
    - feet
    - meter
    - meters
    - ounces
    - liters
    - gallons
    - yards

- lookup: item
  examples: |
    - milk
    - butter
    - flour
    - garlic
    - onions

- synonym: kilometers
  examples: |
    - km
    - kms

- regex: zipcode
  examples: |
    - \b\d{5}\b
"""

# Sentences absent from the training data, with every entity expected in them:
# (entity, normalized value, text as written). Offsets are checked against the text's position.
HELD_OUT: list[tuple[str, list[tuple[str, object, str]]]] = [
    # set_timer: durations normalized to seconds
    (
        "set a timer for an hour and a half please",
        [("duration", 5400, "an hour and a half")],
    ),
    ("start a timer for 12 minutes", [("duration", 720, "12 minutes")]),
    (
        "can you set a timer for two hours and fifteen minutes",
        [("duration", 8100, "two hours and fifteen minutes")],
    ),
    ("timer for a couple of minutes", [("duration", 120, "a couple of minutes")]),
    ("set a 10 minute timer", [("duration", 600, "10 minute")]),
    ("wake me up in half an hour", [("duration", 1800, "half an hour")]),
    ("start a timer of 1.5 hours", [("duration", 5400, "1.5 hours")]),
    ("count down five secs", [("duration", 5, "five secs")]),
    ("timer 90 seconds please", [("duration", 90, "90 seconds")]),
    # add_to_list: multiword items never seen in training
    ("add almond butter to the list", [("item", "almond butter", "almond butter")]),
    ("put cream cheese on my shopping list", [("item", "cream cheese", "cream cheese")]),
    (
        "add sparkling water to my shopping list",
        [("item", "sparkling water", "sparkling water")],
    ),
    ("please add carrots to the list", [("item", "carrots", "carrots")]),
    ("can you put garlic on the grocery list", [("item", "garlic", "garlic")]),
    ("add maple syrup to my groceries", [("item", "maple syrup", "maple syrup")]),
    # calculate: digits and words
    ("what is 250 times 4", [("number", 250, "250"), ("number", 4, "4")]),
    (
        "what's twenty three plus nineteen",
        [("number", 23, "twenty three"), ("number", 19, "nineteen")],
    ),
    ("calculate 3.5 divided by 7", [("number", 3.5, "3.5"), ("number", 7, "7")]),
    (
        "how much is one hundred and five minus twelve",
        [("number", 105, "one hundred and five"), ("number", 12, "twelve")],
    ),
    ("multiply 8 by 11", [("number", 8, "8"), ("number", 11, "11")]),
    # convert_units: roles told apart by context; "km" through the synonyms
    (
        "how many inches in 2 feet",
        [("unit_to", "inches", "inches"), ("number", 2, "2"), ("unit_from", "feet", "feet")],
    ),
    (
        "convert 10 km to miles",
        [("number", 10, "10"), ("unit_from", "kilometers", "km"), ("unit_to", "miles", "miles")],
    ),
    (
        "how many grams in 4 ounces",
        [("unit_to", "grams", "grams"), ("number", 4, "4"), ("unit_from", "ounces", "ounces")],
    ),
    (
        "convert 30 celsius to fahrenheit",
        [
            ("number", 30, "30"),
            ("unit_from", "celsius", "celsius"),
            ("unit_to", "fahrenheit", "fahrenheit"),
        ],
    ),
    (
        "what is 7 kilograms in pounds",
        [
            ("number", 7, "7"),
            ("unit_from", "kilograms", "kilograms"),
            ("unit_to", "pounds", "pounds"),
        ],
    ),
    # weather: the zipcode regex names an annotated entity
    ("weather for 94103 tomorrow", [("zipcode", "94103", "94103")]),
    # nothing to find
    ("hello there", []),
    ("good evening assistant", []),
]


def write_skill(root: Path, nlu: str) -> Skill:
    folder = root / "skill"
    folder.mkdir()
    (folder / "nlu.yml").write_text(nlu, encoding="utf-8")
    return load_skill(folder)


def trained(skill: Skill) -> EntityExtractor:
    extractor = EntityExtractor()
    extractor.train(skill.examples, skill.regexes, skill.lookups, skill.synonyms)
    return extractor


@pytest.fixture(scope="module")
def extractor(tmp_path_factory: pytest.TempPathFactory) -> EntityExtractor:
    return trained(write_skill(tmp_path_factory.mktemp("nlu"), NLU_YML))


def expected_entities(text: str, expected: list[tuple[str, object, str]]) -> list[tuple]:
    rows = []
    for entity, value, surface in expected:
        start = text.index(surface)
        assert text.find(surface, start + 1) == -1, f"{surface!r} is ambiguous in {text!r}"
        rows.append((entity, value, surface, start, start + len(surface)))
    return rows


def found_entities(entities: tuple[Entity, ...]) -> list[tuple]:
    return [(e.entity, e.value, e.text, e.start, e.end) for e in entities]


@pytest.mark.parametrize(("text", "expected"), HELD_OUT, ids=[t for t, _ in HELD_OUT])
def test_held_out_sentences(
    extractor: EntityExtractor, text: str, expected: list[tuple[str, object, str]]
) -> None:
    entities = extractor.extract(text)
    assert found_entities(entities) == expected_entities(text, expected)
    for entity, (_, value, _) in zip(entities, expected, strict=True):
        assert text[entity.start : entity.end] == entity.text
        assert type(entity.value) is type(value)  # 600, not 600.0 or "600"


def test_values_have_their_types(extractor: EntityExtractor) -> None:
    (duration,) = extractor.extract("set a timer for ten minutes")
    assert duration.value == 600 and isinstance(duration.value, int)
    numbers = extractor.extract("what is 3.5 times 2")
    assert [e.value for e in numbers] == [3.5, 2]
    assert isinstance(numbers[1].value, int)


def test_entities_are_sorted_and_never_overlap(extractor: EntityExtractor) -> None:
    for text, _ in HELD_OUT:
        entities = extractor.extract(text)
        assert list(entities) == sorted(entities, key=lambda e: e.start)
        for before, after in itertools.pairwise(entities):
            assert before.end <= after.start


def test_extractor_names(extractor: EntityExtractor) -> None:
    assert {e.extractor for e in extractor.extract("add almond butter to the list")} == {"crf"}
    # A lookup entry named after an annotated entity produces it wherever it occurs, even where
    # the CRF's context says nothing ("flour" after "need"): Rasa's RegexEntityExtractor.
    (flour,) = extractor.extract("flour")
    assert (flour.entity, flour.value, flour.extractor) == ("item", "flour", "lookup")
    (zipcode,) = extractor.extract("94103")
    assert (zipcode.entity, zipcode.extractor) in {("zipcode", "regex"), ("zipcode", "crf")}


def test_lookup_match_inside_a_longer_crf_entity_gives_way(extractor: EntityExtractor) -> None:
    # "butter" is in the item lookup, but the CRF's "almond butter" covers it and is longer.
    (item,) = extractor.extract("put almond butter on the list")
    assert (item.text, item.start, item.end) == ("almond butter", 4, 17)


def test_system_durations_back_up_the_crf(extractor: EntityExtractor) -> None:
    text = "remind me in two hours and fifteen minutes to call mum"
    (duration,) = extractor.extract(text)
    assert (duration.entity, duration.value, duration.text) == (
        "duration",
        8100,
        "two hours and fifteen minutes",
    )
    assert text[duration.start : duration.end] == duration.text


def test_duration_wins_over_the_numbers_inside_it(extractor: EntityExtractor) -> None:
    # "number" is annotated too, so the number rules run; "twenty" must not split the duration.
    entities = extractor.extract("set a timer for twenty minutes")
    assert found_entities(entities) == [("duration", 1200, "twenty minutes", 16, 30)]


def test_synonyms_learnt_from_annotations(extractor: EntityExtractor) -> None:
    # `[kilometres]{"entity": "unit_from", "value": "kilometers"}` maps the spelling.
    entities = extractor.extract("convert 8 kilometres to miles")
    assert ("unit_from", "kilometers", "kilometres") in [
        (e.entity, e.value, e.text) for e in entities
    ]


def test_no_annotations_means_no_entities(tmp_path: Path) -> None:
    skill = write_skill(
        tmp_path,
        "nlu:\n- intent: greet\n  examples: |\n    - hello\n    - hi\n"
        "- lookup: item\n  examples: |\n    - milk\n",
    )
    extractor = trained(skill)
    assert extractor.extract("add milk for ten minutes") == ()
    assert EntityExtractor().extract("anything at all") == ()
    assert trained(skill).extract("") == ()


def test_entity_with_numeric_values_is_a_number() -> None:
    examples = [
        parse_example(line, "set_volume")
        for line in [
            "set the volume to [5](level)",
            "volume [ten](level) please",
            "turn it up to [eight](level)",
            "make the volume [3](level)",
            "change volume to [two](level)",
        ]
    ]
    extractor = EntityExtractor()
    extractor.train(examples)
    (level,) = extractor.extract("set the volume to seven")
    assert (level.entity, level.value, level.text) == ("level", 7, "seven")


def test_unparseable_number_keeps_its_text() -> None:
    examples = [
        parse_example(line, "order")
        for line in [
            "order [two](number) pizzas",
            "I want [3](number) pizzas please",
            "get me [five](number) pizzas",
            "we'd like [lots](number) of pizzas",
        ]
    ]
    extractor = EntityExtractor()
    # The lookup names the entity, so it yields "lots" as a number, which has no numeric value.
    extractor.train(examples, lookups={"number": ["lots", "a few"]})
    found = [(e.entity, e.value, e.text) for e in extractor.extract("order lots of pizzas")]
    assert found == [("number", "lots", "lots")]


def test_entity_whose_values_a_lookup_lists_is_closed_to_it() -> None:
    # Every annotated unit is in the "unit" table, so units are only ever entries of it: the
    # CRF says where a unit is, the table what it is.
    examples = [
        parse_example(line, "convert")
        for line in [
            "convert [5](number) [miles](unit_from) to [kilometers](unit_to)",
            "how many [feet](unit_to) in a [mile](unit_from)",
            "what is [100](number) [fahrenheit](unit_from) in [celsius](unit_to)",
            "[6](number) [feet](unit_from) in [meters](unit_to)",
            "how many [grams](unit_to) in a [pound](unit_from)",
            "change [60](number) [mph](unit_from) into [km per hour](unit_to)",
        ]
    ]
    units = ["miles", "mile", "kilometers", "feet", "fahrenheit", "celsius", "meters", "grams",
             "pound", "mph", "km per hour", "miles per hour", "degrees celsius"]  # fmt: skip
    extractor = EntityExtractor()
    extractor.train(examples, lookups={"unit": units}, synonyms={"miles per hour": "mph"})

    def found(text: str) -> list[tuple[str, object, str]]:
        return [
            (e.entity, e.value, e.text) for e in extractor.extract(text) if e.entity != "number"
        ]

    # Words in a unit's place that are no unit are not taken for one.
    assert found("how many people in london") == []
    # A unit the CRF splits ("miles" + "per hour") is the whole table entry.
    assert found("convert 30 kilometers to miles per hour") == [
        ("unit_from", "kilometers", "kilometers"),
        ("unit_to", "mph", "miles per hour"),
    ]


def test_invalid_regex_is_named() -> None:
    with pytest.raises(ValueError, match="zipcode"):
        EntityExtractor().train([], {"zipcode": ["(unclosed"]})


def test_extraction_works_from_threads(extractor: EntityExtractor) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [text for text, _ in HELD_OUT] * 5
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(extractor.extract, texts))
    assert results == [extractor.extract(text) for text in texts]
