"""A Rasa 3.x domain (`domain.yml`, or every .yml file of a `domain/` folder, merged) as plain
data: responses, slots with their mappings, forms, declared intents, entities and actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.skills.errors import SkillError
from assistant.skills.notices import check_keys, unsupported


@dataclass(frozen=True, slots=True)
class SlotMapping:
    """Rasa's slot mappings: `from_entity` (optionally with the entity's role and group),
    `from_text`, `from_intent`, `from_trigger_intent` and `custom`, with optional conditions on
    the active form and the requested slot."""

    type: str
    entity: str | None = None
    intent: tuple[str, ...] = ()
    not_intent: tuple[str, ...] = ()
    value: Any = None
    conditions: tuple[tuple[str | None, str | None], ...] = ()  # (active_loop, requested_slot)
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    type: str = "any"  # text, float, bool, list, categorical, any
    initial_value: Any = None
    mappings: tuple[SlotMapping, ...] = ()
    influence_conversation: bool = True
    values: tuple[Any, ...] = ()  # a categorical slot's values


@dataclass(frozen=True, slots=True)
class Form:
    name: str
    required_slots: tuple[str, ...]
    ignored_intents: tuple[str, ...] = ()


@dataclass
class DomainData:
    """What a domain holds (filled file by file; a `domain/` folder's files merge)."""

    responses: dict[str, tuple[str, ...]] = field(default_factory=dict)  # text variations
    response_variants: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    forms: dict[str, Form] = field(default_factory=dict)
    intents: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)


_DOMAIN_KEYS = {
    "version": "",
    "intents": "",
    "entities": "",
    "slots": "",
    "forms": "",
    "responses": "",
    "actions": "",
}
_INSTEAD = {
    "session_config": "a session lasts as long as the conversation (or its --session id)",
    "config": "entities are not stored as slots unless a slot maps them",
    "e2e_actions": "end-to-end bot texts are not predicted",
}
# What a response variation may hold: text with {slot} placeholders, and (issue 13, item 5)
# condition, buttons, image, custom and channel.
_VARIATION_KEYS = {k: "" for k in ("text", "condition", "buttons", "image", "custom", "channel")}
_SLOT_KEYS = {
    k: "" for k in ("type", "initial_value", "mappings", "influence_conversation", "values")
}
_MAPPING_TYPES = ("from_entity", "from_text", "from_intent", "from_trigger_intent", "custom")
_MAPPING_KEYS = {
    k: ""
    for k in (
        "type",
        "entity",
        "intent",
        "not_intent",
        "value",
        "conditions",
        "role",
        "group",
        "action",
    )
}


def domain_files(root: Path) -> list[Path]:
    """`domain.yml`, or the .yml files of a `domain/` folder (subfolders too), in name order."""
    if (root / "domain.yml").is_file():
        return [root / "domain.yml"]
    if (root / "domain.yaml").is_file():
        return [root / "domain.yaml"]
    folder = root / "domain"
    if folder.is_dir():
        return sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml"))
    return []


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SkillError(f"{path}: invalid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SkillError(f"{path}: expected a mapping at the top level")
    return data


def read_domain(path: Path, into: DomainData) -> None:
    domain = read_yaml(path)
    for key in domain:
        if key in _INSTEAD:
            unsupported(path, str(key), _INSTEAD[key])
        elif key not in _DOMAIN_KEYS:
            unsupported(path, str(key), "it is ignored")
    for name, variants in (domain.get("responses") or {}).items():
        _response(path, str(name), variants, into)
    for name, spec in (domain.get("slots") or {}).items():
        where = f"slots.{name}"
        check_keys(path, f"{where}.", spec or {}, _SLOT_KEYS)
        into.slots[str(name)] = _slot(path, where, str(name), spec or {})
    for name, spec in (domain.get("forms") or {}).items():
        into.forms[str(name)] = _form(path, str(name), spec or {})
    into.intents.extend(_declared(path, "intents", domain.get("intents")))
    into.entities.extend(_declared(path, "entities", domain.get("entities")))
    into.actions.extend(_declared(path, "actions", domain.get("actions")))


def _response(path: Path, name: str, variants: Any, into: DomainData) -> None:
    where = f"{path}: responses.{name}"
    if not isinstance(variants, list) or not variants:
        raise SkillError(f"{where}: expected a list of '- text: ...' variations")
    for variant in variants:
        if not isinstance(variant, dict) or not variant:
            raise SkillError(f"{where}: every variation needs a 'text' (or buttons, custom...)")
        if "text" in variant and not isinstance(variant["text"], str):
            raise SkillError(f"{where}: 'text' must be a string")
        check_keys(path, "responses.<variation>.", variant, _VARIATION_KEYS)
    into.response_variants[name] = tuple(variants)
    texts = tuple(v["text"] for v in variants if isinstance(v.get("text"), str))
    if texts:
        into.responses[name] = texts
    else:
        into.responses.pop(name, None)


def _declared(path: Path, key: str, raw: Any) -> list[str]:
    """The names an `intents:`, `entities:` or `actions:` list declares (an entry may be a
    mapping with its options: an intent's `use_entities`, an entity's `roles`/`groups`)."""
    names = []
    for item in raw or []:
        if isinstance(item, dict):
            for name, options in item.items():
                names.append(str(name))
                for option in options or {}:
                    if key == "entities" and option in ("roles", "groups"):
                        continue
                    unsupported(path, f"{key}.{name}.{option}", "it is ignored")
        else:
            names.append(str(item))
    return names


def _form(path: Path, name: str, spec: Any) -> Form:
    if not isinstance(spec, dict):
        raise SkillError(f"{path}: forms.{name}: expected a mapping with 'required_slots'")
    for key in spec:
        if key not in ("required_slots", "ignored_intents"):
            unsupported(path, f"forms.{name}.{key}", "it is ignored")
    required = spec.get("required_slots") or []
    if isinstance(required, dict):  # Rasa 2's `required_slots: {slot: [mappings]}`
        unsupported(
            path, f"forms.{name}.required_slots mappings", "the slots' own mappings fill it"
        )
        required = list(required)
    if not isinstance(required, list) or not required:
        raise SkillError(f"{path}: forms.{name}.required_slots: expected a list of slots")
    return Form(name, tuple(str(s) for s in required), _names(spec.get("ignored_intents")))


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _slot(path: Path, where: str, name: str, spec: dict[str, Any]) -> Slot:
    mappings = []
    for index, raw in enumerate(spec.get("mappings") or []):
        at = f"{path}: {where}.mappings[{index}]"
        kind = raw.get("type") if isinstance(raw, dict) else None
        if kind not in _MAPPING_TYPES:
            raise SkillError(
                f"{at}.type: expected one of {', '.join(_MAPPING_TYPES)}, got {kind!r}"
            )
        if kind == "from_entity" and not raw.get("entity"):
            raise SkillError(f"{at}: from_entity needs an 'entity'")
        check_keys(path, f"{where}.mappings[].", raw, _MAPPING_KEYS)
        conditions = tuple(
            (c.get("active_loop"), c.get("requested_slot")) for c in raw.get("conditions") or []
        )
        mappings.append(
            SlotMapping(
                type=kind,
                entity=raw.get("entity"),
                intent=_names(raw.get("intent")),
                not_intent=_names(raw.get("not_intent")),
                value=raw.get("value"),
                conditions=conditions,
                role=None if raw.get("role") is None else str(raw["role"]),
                group=None if raw.get("group") is None else str(raw["group"]),
            )
        )
    return Slot(
        name=name,
        type=str(spec.get("type", "any")),
        initial_value=spec.get("initial_value"),
        mappings=tuple(mappings),
        influence_conversation=bool(spec.get("influence_conversation", True)),
        values=tuple(spec.get("values") or ()),
    )
