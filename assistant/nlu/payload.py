"""A button's payload typed by the user: `/intent` or `/intent{"slot": "value"}`, as in Rasa.

Such a message names its intent and entities itself, so it bypasses the classifier: the intent
is taken with confidence 1 and each key of the JSON object becomes an entity (which the slot
mappings then turn into slots, as Rasa does).
"""

from __future__ import annotations

import json
import re

from assistant.nlu.results import Entity, IntentScore

_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z0-9_][\w\-.]*)(?P<json>\{.*\})?$", re.DOTALL)


class PayloadError(ValueError):
    """A message that looks like a payload but is not one; the message says why."""


def parse_payload(text: str) -> tuple[IntentScore, tuple[Entity, ...]] | None:
    """The intent and entities of a payload, or None when `text` is not one. A payload whose
    JSON is broken is a `PayloadError`."""
    match = _PAYLOAD.match(text.strip())
    if match is None:
        return None
    entities: list[Entity] = []
    if match["json"]:
        try:
            data = json.loads(match["json"])
        except ValueError as exc:
            raise PayloadError(f"the payload's entities are not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise PayloadError("the payload's entities must be a JSON object")
        for name, value in data.items():
            values = value if isinstance(value, list) else [value]
            entities += [
                Entity(entity=str(name), value=v, text=str(v), start=0, end=0, extractor="payload")
                for v in values
            ]
    return IntentScore(name=match["intent"], confidence=1.0), tuple(entities)
