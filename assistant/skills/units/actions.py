"""Unit conversion: "how many centimeters in 3 inches" -> "3 inches is 7.62 centimeters."

Each unit is a factor to its dimension's base unit (meter, kilogram, liter, second, meter per
second, and kelvin with an offset for temperatures). The units come from the words of the question,
whose order is reliable ("how many X in Y" asks for X; "convert Y to X" likewise), or else from
the NLU's `unit_from` / `unit_to` entities. With no unit to convert to ("convert 5 miles"), the
answer is in the user's preferred system (the `unit_system` slot, which the memory skill keeps),
or in the other system than the one asked about.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from assistant.nlu.numbers import find_numbers, parse_number

Number = int | float
EventList = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Unit:
    name: str  # canonical, the value nlu.yml's synonyms map to
    dimension: str
    factor: float  # base units per one of this unit
    singular: str
    plural: str
    aliases: tuple[str, ...] = ()
    offset: float = 0.0  # temperatures: base = value * factor + offset

    def to_base(self, value: float) -> float:
        return value * self.factor + self.offset

    def from_base(self, value: float) -> float:
        return (value - self.offset) / self.factor

    def said(self, value: float) -> str:
        return self.singular if abs(value) == 1 else self.plural


def _unit(
    name: str, dimension: str, factor: float, plural: str, *aliases: str, offset: float = 0.0
) -> Unit:
    return Unit(name, dimension, factor, name, plural, aliases, offset)


# fmt: off
UNITS: tuple[Unit, ...] = (
    # length, in meters
    _unit("millimeter", "length", 0.001, "millimeters", "millimetre", "millimetres", "mm"),
    _unit("centimeter", "length", 0.01, "centimeters", "centimetre", "centimetres", "cm"),
    _unit("meter", "length", 1.0, "meters", "metre", "metres", "m"),
    _unit("kilometer", "length", 1000.0, "kilometers", "kilometre", "kilometres", "km"),
    _unit("inch", "length", 0.0254, "inches"),
    _unit("foot", "length", 0.3048, "feet", "ft"),
    _unit("yard", "length", 0.9144, "yards", "yd", "yds"),
    _unit("mile", "length", 1609.344, "miles", "mi"),
    _unit("nautical mile", "length", 1852.0, "nautical miles", "nmi"),
    # mass, in kilograms
    _unit("milligram", "mass", 1e-6, "milligrams", "milligramme", "mg"),
    _unit("gram", "mass", 0.001, "grams", "gramme", "grammes", "g"),
    _unit("kilogram", "mass", 1.0, "kilograms", "kilo", "kilos", "kg", "kgs", "kilogramme"),
    _unit("tonne", "mass", 1000.0, "tonnes", "metric ton", "metric tons", "ton", "tons"),
    _unit("ounce", "mass", 0.028349523125, "ounces", "oz"),
    _unit("pound", "mass", 0.45359237, "pounds", "lb", "lbs"),
    _unit("stone", "mass", 6.35029318, "stone", "stones", "st"),
    # volume, in liters
    _unit("milliliter", "volume", 0.001, "milliliters", "millilitre", "millilitres", "ml"),
    _unit("centiliter", "volume", 0.01, "centiliters", "centilitre", "centilitres", "cl"),
    _unit("liter", "volume", 1.0, "liters", "litre", "litres", "l"),
    _unit("cubic meter", "volume", 1000.0, "cubic meters", "cubic metre", "cubic metres"),
    _unit("teaspoon", "volume", 0.00492892159375, "teaspoons", "tsp"),
    _unit("tablespoon", "volume", 0.01478676478125, "tablespoons", "tbsp"),
    _unit("fluid ounce", "volume", 0.0295735295625, "fluid ounces", "fl oz"),
    _unit("cup", "volume", 0.2365882365, "cups"),
    _unit("pint", "volume", 0.473176473, "pints", "pt"),
    _unit("quart", "volume", 0.946352946, "quarts", "qt"),
    _unit("gallon", "volume", 3.785411784, "gallons", "gal"),
    # time, in seconds
    _unit("millisecond", "time", 0.001, "milliseconds", "ms"),
    _unit("second", "time", 1.0, "seconds", "sec", "secs"),
    _unit("minute", "time", 60.0, "minutes", "min", "mins"),
    _unit("hour", "time", 3600.0, "hours", "hr", "hrs"),
    _unit("day", "time", 86400.0, "days"),
    _unit("week", "time", 604800.0, "weeks"),
    _unit("year", "time", 31536000.0, "years", "yr", "yrs"),  # 365 days
    # speed, in meters per second
    _unit("meter per second", "speed", 1.0, "meters per second", "metres per second", "m/s"),
    _unit("kilometer per hour", "speed", 1 / 3.6, "kilometers per hour",
          "kilometres per hour", "km/h", "kmh", "kph", "km per hour"),
    _unit("mile per hour", "speed", 0.44704, "miles per hour", "mph"),
    _unit("foot per second", "speed", 0.3048, "feet per second", "ft/s", "fps"),
    _unit("knot", "speed", 1852 / 3600, "knots", "kn", "kt"),
    # temperature, in kelvin
    Unit("celsius", "temperature", 1.0, "degree Celsius", "degrees Celsius",
         ("degrees celsius", "degree celsius", "centigrade", "degrees centigrade", "c", "°c"),
         offset=273.15),
    Unit("fahrenheit", "temperature", 5 / 9, "degree Fahrenheit", "degrees Fahrenheit",
         ("degrees fahrenheit", "degree fahrenheit", "f", "°f"),
         offset=273.15 - 32 * 5 / 9),
    Unit("kelvin", "temperature", 1.0, "kelvin", "kelvin", ("kelvins", "k")),
)
# fmt: on
DIMENSIONS = {
    "length": "a length",
    "mass": "a weight",
    "volume": "a volume",
    "time": "a time",
    "speed": "a speed",
    "temperature": "a temperature",
}
KNOWN = "I can convert lengths, weights, volumes, temperatures, times and speeds."
DEGREES = "degrees"  # alone, it means the other scale of the question


def _lookup() -> dict[str, Unit]:
    table: dict[str, Unit] = {}
    for unit in UNITS:
        for alias in (unit.name, unit.singular, unit.plural, *unit.aliases):
            table.setdefault(alias.lower(), unit)
    return table


BY_ALIAS = _lookup()
# Longest alias first, so "fluid ounces" wins over "ounces" and "degrees celsius" over "c". A unit
# may touch a number ("5km", "100°c") but not a letter. "in" is never inch: it is the "in" of
# "how many cm in an inch".
_ALIAS_PATTERN = re.compile(
    r"(?<![^\W\d_])("
    + "|".join(re.escape(a) for a in sorted([*BY_ALIAS, DEGREES, "degree"], key=len, reverse=True))
    + r")(?![\w/])",
    re.IGNORECASE,
)
# Single letters (m, g, l, c, f, k) are units only after a number or "to"/"in": "5 m", "in c".
_BEFORE_LETTER_UNIT = re.compile(r"(\d|\b(to|in|into)|°)\s*$", re.IGNORECASE)
# "how many ounces in a pound": the unit right after "how many" is the one asked for.
_ASKED_FOR = re.compile(r"\bhow (many|much)\s+$", re.IGNORECASE)


class ConversionError(Exception):
    """What to tell the user, as it is."""


def resolve(name: Any) -> Unit | None:
    return BY_ALIAS.get(" ".join(name.lower().split())) if isinstance(name, str) else None


def units_in_text(text: str) -> list[tuple[str, int]]:
    """The unit words of the text with their offsets ("degrees" kept as a placeholder)."""
    found = []
    for match in _ALIAS_PATTERN.finditer(text):
        word = match[1].lower()
        if len(word) == 1 and not _BEFORE_LETTER_UNIT.search(text[: match.start()]):
            continue
        found.append((DEGREES if word in ("degree", DEGREES) else word, match.start()))
    return found


def number_in(tracker: Tracker, text: str) -> float:
    """The quantity: the first number in the text (also when glued to its unit: "5km"), else
    the NLU's `number` entity, else 1 ("how many ounces in a pound")."""
    numbers = find_numbers(text)
    if numbers:
        return float(numbers[0][2])
    glued = re.search(r"-?\d+(?:\.\d+)?(?=[^\W\d_])", text)
    if glued:
        return float(glued[0])
    for value in tracker.get_latest_entity_values("number"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        parsed = parse_number(str(value))
        if parsed is not None:
            return float(parsed)
    return 1.0


def units_of(tracker: Tracker, text: str, preferred: str | None = None) -> tuple[Unit, Unit]:
    """(from, to). The words of the text decide when they name two units, since their order
    is reliable ("how many X in Y" asks for X; "convert Y to X" too); else the entities. One
    unit alone is converted into the `preferred` system ("metric", "imperial")."""
    words = units_in_text(text)
    if len(words) >= 2:
        (first, at), (second, _) = words[0], words[1]
        if _ASKED_FOR.search(text[:at]):
            first, second = second, first
        return _pair(first, second)
    names = [next(tracker.get_latest_entity_values(e), None) for e in ("unit_from", "unit_to")]
    source, target = (resolve(n) for n in names)
    if source is not None and target is not None:
        return source, target
    unknown = [str(n) for n, unit in zip(names, (source, target), strict=True) if n and not unit]
    if unknown:
        raise ConversionError(f"Sorry, I don't know the unit {unknown[0]}. {KNOWN}")
    if len(words) == 1 or source is not None or target is not None:
        # One unit named: whichever role the NLU gave it, it is the quantity's unit.
        word = words[0][0] if len(words) == 1 else None
        return _alone(BY_ALIAS.get(word or "") or source or target, word == DEGREES, preferred)
    if words:
        raise ConversionError(f"Sorry, I don't know one of those units. {KNOWN}")
    raise ConversionError(
        "Which units should I convert between? Try something like: "
        "how many centimeters in 3 inches."
    )


def _pair(first: str, second: str) -> tuple[Unit, Unit]:
    """Resolve two unit words; a bare "degrees" is the other scale of the pair's temperature
    ("30 degrees in fahrenheit" is Celsius)."""
    source, target = BY_ALIAS.get(first), BY_ALIAS.get(second)
    if source is None and target is not None:
        source = _opposite(target)
    elif target is None and source is not None:
        target = _opposite(source)
    if source is None or target is None:
        raise ConversionError("Which temperature scales do you mean, Celsius or Fahrenheit?")
    return source, target


def _opposite(unit: Unit) -> Unit:
    return BY_ALIAS["fahrenheit" if unit.name == "celsius" else "celsius"]


# Each unit's usual counterpart in the other system ("5 miles" -> kilometers). A unit in
# neither table (time) has none; one in both (kelvin, knots, nautical miles) belongs to neither.
METRIC_OF = {
    "inch": "centimeter", "foot": "meter", "yard": "meter", "mile": "kilometer",
    "nautical mile": "kilometer", "ounce": "gram", "pound": "kilogram", "stone": "kilogram",
    "teaspoon": "milliliter", "tablespoon": "milliliter", "fluid ounce": "milliliter",
    "cup": "milliliter", "pint": "liter", "quart": "liter", "gallon": "liter",
    "fahrenheit": "celsius", "kelvin": "celsius", "mile per hour": "kilometer per hour",
    "foot per second": "meter per second", "knot": "kilometer per hour",
}  # fmt: skip
IMPERIAL_OF = {
    "millimeter": "inch", "centimeter": "inch", "meter": "foot", "kilometer": "mile",
    "nautical mile": "mile", "milligram": "ounce", "gram": "ounce", "kilogram": "pound",
    "tonne": "pound", "milliliter": "fluid ounce", "centiliter": "fluid ounce", "liter": "pint",
    "cubic meter": "gallon", "celsius": "fahrenheit", "kelvin": "fahrenheit",
    "kilometer per hour": "mile per hour", "meter per second": "foot per second",
    "knot": "mile per hour",
}  # fmt: skip


def counterpart(unit: Unit, preferred: str | None) -> Unit | None:
    """What to convert `unit` into when no unit was asked for: the preferred system's unit,
    unless `unit` is of that system already (then the other system's), or with no preference
    the other system's (metric for a unit of neither)."""
    metric = unit.name in IMPERIAL_OF and unit.name not in METRIC_OF
    imperial = unit.name in METRIC_OF and unit.name not in IMPERIAL_OF
    if preferred == "metric" and not metric:
        name = METRIC_OF.get(unit.name)
    elif preferred == "imperial" and not imperial:
        name = IMPERIAL_OF.get(unit.name)
    else:
        name = (IMPERIAL_OF if metric else METRIC_OF).get(unit.name)
    return BY_ALIAS[name] if name else None


def _alone(unit: Unit | None, degrees: bool, preferred: str | None) -> tuple[Unit, Unit]:
    """(from, to) for a quantity in one unit ("convert 5 miles", "what's 70 degrees")."""
    if degrees:
        # Bare degrees: those of the other scale, said in the preferred one.
        if preferred not in ("metric", "imperial"):
            raise ConversionError("Which temperature scales do you mean, Celsius or Fahrenheit?")
        scale = BY_ALIAS["celsius" if preferred == "metric" else "fahrenheit"]
        return _opposite(scale), scale
    if unit is None:
        raise ConversionError(f"Sorry, I don't know one of those units. {KNOWN}")
    target = counterpart(unit, preferred)
    if target is None:
        raise ConversionError(
            f"Into which unit should I convert {unit.plural}? Try something like: "
            f"convert 2 {unit.plural} to {'minutes' if unit.dimension == 'time' else 'meters'}."
        )
    return unit, target


def convert(value: float, source: Unit, target: Unit) -> float:
    if source.dimension != target.dimension:
        raise ConversionError(
            f"I can't convert {source.plural} to {target.plural}: "
            f"{DIMENSIONS[source.dimension]} isn't {DIMENSIONS[target.dimension]}."
        )
    return target.from_base(source.to_base(value))


def format_number(value: float) -> str:
    """Rounded as a person would read a measurement: 7.62, 37.78, 0.0254, 31,536,000."""
    if not math.isfinite(value):
        return "an enormous amount of"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        decimals = 1
    elif magnitude >= 1:
        decimals = 2
    else:  # three significant digits
        decimals = min(12, 2 - math.floor(math.log10(magnitude)))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def answer(tracker: Tracker) -> str:
    text = tracker.latest_message.get("text") or ""
    try:
        preferred = tracker.get_slot("unit_system")
        source, target = units_of(tracker, text, preferred if isinstance(preferred, str) else None)
        value = number_in(tracker, text)
        result = convert(value, source, target)
    except ConversionError as exc:
        return str(exc)
    return (
        f"{format_number(value)} {source.said(value)} is "
        f"{format_number(result)} {target.said(round(result, 2))}."
    )


class ActionConvertUnits(Action):
    def name(self) -> str:
        return "action_convert_units"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        dispatcher.utter_message(text=answer(tracker))
        return []
