"""Choosing what to say from `utter_*` response templates.

Variations are picked at random but never the same one twice in a row in a session, so a second
"tell me a joke" gets another joke. `{name}` placeholders are filled from the values given; a
missing value reads as an empty string rather than failing the turn.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


class ResponsePicker:
    def __init__(self, responses: Mapping[str, tuple[str, ...]], seed: int | None = None) -> None:
        self.responses = responses
        self.random = random.Random(seed)
        self.last_choice: dict[tuple[str, str], str] = {}

    def choose(
        self, session_id: str, name: str, values: Mapping[str, Any] | None = None
    ) -> str | None:
        """A variation of response `name` (None if the skills have no such response)."""
        variations = self.responses.get(name)
        if not variations:
            return None
        previous = self.last_choice.get((session_id, name))
        fresh = [v for v in variations if v != previous] or list(variations)
        choice = self.random.choice(fresh)
        self.last_choice[(session_id, name)] = choice
        return choice.format_map(_Values(values or {})).strip()

    def forget(self, session_id: str) -> None:
        self.last_choice = {k: v for k, v in self.last_choice.items() if k[0] != session_id}
