"""Responses as Rasa's domain defines them, and choosing what to say from them.

A response (`utter_*`) is a list of variations. Each may have `text` with `{slot}` placeholders,
`buttons` (title and payload), an `image`, a `custom` payload, a `condition` on slot values and a
`channel`. The choice follows Rasa's order: variations whose condition holds and whose channel is
this one, else conditional ones for no channel, else unconditional ones of this channel, else the
plain ones. Among those, one is picked at random but never the same one twice in a row in a
session, so a second "tell me a joke" gets another joke. A missing placeholder value reads as an
empty string rather than failing the turn; values every response may use (the persona's name)
are the picker's `defaults`, under the turn's own.

Buttons are read out as numbered options after the text ("1. Italian, 2. Chinese"), so they work
in speech and in a terminal; the user may answer with a button's payload. `image` and `custom`
are kept in the turn's record (`Chosen.data`) and never spoken.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Keys of a variation that are data for a client rather than words; kept as they are.
DATA_KEYS = ("image", "custom", "attachment", "elements", "quick_replies")
KNOWN_KEYS = frozenset({"text", "buttons", "condition", "channel", *DATA_KEYS})


class ResponseError(ValueError):
    """A response variation that is not in Rasa's format; the message says what is wrong."""


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Variation:
    text: str = ""
    buttons: tuple[Button, ...] = ()
    condition: tuple[tuple[str, Any], ...] = ()  # (slot, value): all must hold
    channel: str | None = None
    data: tuple[tuple[str, Any], ...] = ()  # image, custom, ...: for the record, not for speech

    def holds(self, slots: Mapping[str, Any]) -> bool:
        return all(slots.get(name) == value for name, value in self.condition)


@dataclass(frozen=True)
class Chosen:
    """A variation filled in: the words to say and what a client may show besides."""

    text: str
    data: dict[str, Any]


def parse_variations(where: str, variants: Any) -> tuple[Variation, ...]:
    """A domain's `responses.<name>` list, read; `ResponseError` names what is wrong."""
    if not isinstance(variants, list) or not variants:
        raise ResponseError(f"{where}: expected a list of '- text: ...' variations")
    return tuple(_variation(f"{where}[{i}]", v) for i, v in enumerate(variants))


def _variation(where: str, raw: Any) -> Variation:
    if not isinstance(raw, dict) or not any(k in raw for k in ("text", "buttons", *DATA_KEYS)):
        raise ResponseError(f"{where}: a variation needs 'text', 'buttons', 'image' or 'custom'")
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise ResponseError(f"{where}.text: expected a string")
    buttons = []
    for index, button in enumerate(raw.get("buttons") or []):
        if not isinstance(button, dict) or "title" not in button:
            raise ResponseError(f"{where}.buttons[{index}]: expected 'title' and 'payload'")
        buttons.append(Button(str(button["title"]), str(button.get("payload", button["title"]))))
    condition = []
    for index, cond in enumerate(raw.get("condition") or []):
        if not isinstance(cond, dict) or cond.get("type", "slot") != "slot" or "name" not in cond:
            raise ResponseError(f"{where}.condition[{index}]: expected type: slot, name, value")
        condition.append((str(cond["name"]), cond.get("value")))
    channel = raw.get("channel")
    return Variation(
        text=text,
        buttons=tuple(buttons),
        condition=tuple(condition),
        channel=str(channel) if channel is not None else None,
        data=tuple((k, raw[k]) for k in DATA_KEYS if raw.get(k) is not None),
    )


def candidates(
    variations: Sequence[Variation], slots: Mapping[str, Any], channel: str | None
) -> list[Variation]:
    """Rasa's order of preference: conditional for this channel, conditional, this channel's,
    plain."""
    matching = [v for v in variations if v.condition and v.holds(slots)]
    plain = [v for v in variations if not v.condition]
    for pool in (matching, plain):
        own = [v for v in pool if channel is not None and v.channel == channel]
        if own:
            return own
        unchannelled = [v for v in pool if v.channel is None]
        if unchannelled:
            return unchannelled
    return []


def with_buttons(text: str, buttons: Sequence[Button]) -> str:
    """The text followed by the buttons as numbered options, to read out or print."""
    if not buttons:
        return text
    options = ", ".join(f"{i}. {b.title}" for i, b in enumerate(buttons, 1))
    return f"{text} {options}." if text else f"{options}."


class ResponsePicker:
    def __init__(
        self,
        responses: Mapping[str, Sequence[Variation | str | dict[str, Any]]],
        seed: int | None = None,
        channel: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        """`responses`: each response's variations, as words only or as the domain writes them
        (`SkillSet.response_variants`); `channel` chooses that channel's variations; `defaults`
        fill placeholders no slot or value fills (the persona's `{assistant_name}`)."""
        self.responses = {
            name: tuple(_as_variation(f"responses.{name}[{i}]", v) for i, v in enumerate(vs))
            for name, vs in responses.items()
        }
        self.random = random.Random(seed)
        self.channel = channel
        self.defaults = dict(defaults or {})
        self.last_choice: dict[tuple[str, str], Variation] = {}

    def pick(
        self,
        session_id: str,
        name: str,
        values: Mapping[str, Any] | None = None,
        slots: Mapping[str, Any] | None = None,
    ) -> Chosen | None:
        """A variation of response `name` filled from `values` (None if the skills have no such
        response, or none of its variations applies)."""
        pool = candidates(self.responses.get(name, ()), slots or values or {}, self.channel)
        if not pool:
            return None
        previous = self.last_choice.get((session_id, name))
        fresh = [v for v in pool if v != previous] or pool
        choice = self.random.choice(fresh)
        self.last_choice[(session_id, name)] = choice
        filled = _Values({**self.defaults, **(values or {})})
        text = _format(choice.text, filled).strip()
        data = {key: _fill(value, filled) for key, value in choice.data}
        if choice.buttons:
            data["buttons"] = [{"title": b.title, "payload": b.payload} for b in choice.buttons]
        return Chosen(with_buttons(text, choice.buttons), data)

    def choose(
        self, session_id: str, name: str, values: Mapping[str, Any] | None = None
    ) -> str | None:
        """The words of a variation of response `name` (None if there is no such response)."""
        chosen = self.pick(session_id, name, values)
        return chosen.text if chosen is not None else None

    def forget(self, session_id: str) -> None:
        self.last_choice = {k: v for k, v in self.last_choice.items() if k[0] != session_id}


def _as_variation(where: str, variation: Variation | str | dict[str, Any]) -> Variation:
    if isinstance(variation, str):
        return Variation(text=variation)
    if isinstance(variation, dict):
        return _variation(where, variation)
    return variation


def _fill(value: Any, values: _Values) -> Any:
    """Placeholders filled in the strings of an image or custom payload too, as Rasa does."""
    if isinstance(value, str):
        return _format(value, values)
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _format(text: str, values: _Values) -> str:
    try:
        return text.format_map(values)
    except (ValueError, IndexError, AttributeError):  # a stray brace is text, not a placeholder
        return text
