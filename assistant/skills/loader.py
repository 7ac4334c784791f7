"""Read skill folders written in Rasa's formats.

A skill folder holds `nlu.yml` (training examples per intent, with `[value](entity)` annotations,
plus `regex`, `lookup` and `synonym` entries) and `domain.yml` (the `responses:` with `utter_*`
templates). Several skills merge into one `SkillSet`, which the NLU and response stages share.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from assistant.dialogue.responses import ResponseError, parse_variations


class SkillError(Exception):
    """A skill file is missing or malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class EntitySpan:
    entity: str
    value: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    entities: tuple[EntitySpan, ...] = ()


@dataclass(frozen=True, slots=True)
class SlotMapping:
    """Rasa's slot mappings: `from_entity`, `from_text` and `from_intent`, with optional
    conditions on the active form and the requested slot."""

    type: str
    entity: str | None = None
    intent: tuple[str, ...] = ()
    not_intent: tuple[str, ...] = ()
    value: Any = None
    conditions: tuple[tuple[str | None, str | None], ...] = ()  # (active_loop, requested_slot)


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    type: str = "any"  # text, float, bool, list, categorical, any
    initial_value: Any = None
    mappings: tuple[SlotMapping, ...] = ()


@dataclass(frozen=True, slots=True)
class Form:
    name: str
    required_slots: tuple[str, ...]
    ignored_intents: tuple[str, ...] = ()  # the form's slots are not filled from these


@dataclass(frozen=True)
class Skill:
    name: str
    path: Path
    examples: tuple[Example, ...] = ()
    regexes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lookups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)  # spoken variant -> canonical value
    responses: dict[str, tuple[str, ...]] = field(default_factory=dict)  # text variations
    # Every variation as written (text, condition, buttons, image, custom, channel).
    response_variants: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    forms: dict[str, Form] = field(default_factory=dict)

    @property
    def actions_module(self) -> Path | None:
        path = self.path / "actions.py"
        return path if path.is_file() else None


@dataclass(frozen=True)
class SkillSet:
    skills: tuple[Skill, ...]

    @property
    def examples(self) -> tuple[Example, ...]:
        return tuple(e for s in self.skills for e in s.examples)

    @property
    def intents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.intent for e in self.examples))

    @property
    def responses(self) -> dict[str, tuple[str, ...]]:
        """Later skills override earlier ones' responses of the same name (personas)."""
        merged: dict[str, tuple[str, ...]] = {}
        for skill in self.skills:
            merged.update(skill.responses)
        return merged

    @property
    def response_variants(self) -> dict[str, tuple[dict[str, Any], ...]]:
        merged: dict[str, tuple[dict[str, Any], ...]] = {}
        for skill in self.skills:
            merged.update(skill.response_variants)
        return merged

    @property
    def slots(self) -> dict[str, Slot]:
        return {name: slot for skill in self.skills for name, slot in skill.slots.items()}

    @property
    def forms(self) -> dict[str, Form]:
        return {name: form for skill in self.skills for name, form in skill.forms.items()}

    @property
    def regexes(self) -> dict[str, tuple[str, ...]]:
        return {k: v for skill in self.skills for k, v in skill.regexes.items()}

    @property
    def lookups(self) -> dict[str, tuple[str, ...]]:
        return {k: v for skill in self.skills for k, v in skill.lookups.items()}

    @property
    def synonyms(self) -> dict[str, str]:
        return {k: v for skill in self.skills for k, v in skill.synonyms.items()}


# `[oat milk](item)` or `[ten minutes]{"entity": "duration", "value": "600"}`
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<name>[^)]+)\)|(?P<json>\{[^}]*\}))")


def parse_example(line: str, intent: str) -> Example:
    """Strip the entity annotations from one example, keeping their character offsets."""
    plain: list[str] = []
    spans: list[EntitySpan] = []
    cursor = 0
    length = 0
    for match in _ANNOTATION.finditer(line):
        before = line[cursor : match.start()]
        plain.append(before)
        length += len(before)
        text = match["text"]
        if match["name"] is not None:
            entity, value = match["name"].strip(), text
        else:
            spec = json.loads(match["json"])
            entity, value = spec["entity"], str(spec.get("value", text))
        spans.append(EntitySpan(entity, value, length, length + len(text)))
        plain.append(text)
        length += len(text)
        cursor = match.end()
    plain.append(line[cursor:])
    return Example("".join(plain).strip(), intent, tuple(spans))


def _items(block: Any, where: str) -> list[str]:
    """A Rasa `examples: |` block is a string of `- item` lines."""
    if not isinstance(block, str):
        raise SkillError(f"{where}: 'examples' must be a block of '- ...' lines")
    items = []
    for raw in block.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("- "):
            raise SkillError(f"{where}: example line {line!r} must start with '- '")
        items.append(line[2:].strip())
    return items


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SkillError(f"{path}: invalid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SkillError(f"{path}: expected a mapping at the top level")
    return data


def _load_nlu(path: Path, skill: dict[str, Any]) -> None:
    entries = _read_yaml(path).get("nlu") or []
    examples: list[Example] = []
    for index, entry in enumerate(entries):
        where = f"{path}: nlu[{index}]"
        if not isinstance(entry, dict):
            raise SkillError(f"{where}: expected a mapping with 'intent' and 'examples'")
        block = entry.get("examples")
        if "intent" in entry:
            examples.extend(parse_example(t, str(entry["intent"])) for t in _items(block, where))
        elif "regex" in entry:
            skill["regexes"][str(entry["regex"])] = tuple(_items(block, where))
        elif "lookup" in entry:
            skill["lookups"][str(entry["lookup"])] = tuple(_items(block, where))
        elif "synonym" in entry:
            for variant in _items(block, where):
                skill["synonyms"][variant.lower()] = str(entry["synonym"])
        else:
            raise SkillError(f"{where}: expected one of intent, regex, lookup, synonym")
    skill["examples"] = tuple(examples)


def _load_domain(path: Path, skill: dict[str, Any]) -> None:
    domain = _read_yaml(path)
    for name, variants in (domain.get("responses") or {}).items():
        try:
            parsed = parse_variations(f"{path}: responses.{name}", variants)
        except ResponseError as exc:
            raise SkillError(str(exc)) from None
        skill["response_variants"][str(name)] = tuple(variants)
        texts = tuple(v.text for v in parsed if v.text)
        if texts:
            skill["responses"][str(name)] = texts
    for name, spec in (domain.get("slots") or {}).items():
        skill["slots"][str(name)] = _slot(f"{path}: slots.{name}", str(name), spec or {})
    for name, spec in (domain.get("forms") or {}).items():
        required = (spec or {}).get("required_slots") or []
        if not isinstance(required, list) or not required:
            raise SkillError(f"{path}: forms.{name}.required_slots: expected a list of slots")
        ignored = _names((spec or {}).get("ignored_intents"))
        skill["forms"][str(name)] = Form(str(name), tuple(str(s) for s in required), ignored)


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _slot(where: str, name: str, spec: dict[str, Any]) -> Slot:
    mappings = []
    for index, raw in enumerate(spec.get("mappings") or []):
        kind = raw.get("type")
        if kind not in ("from_entity", "from_text", "from_intent", "custom"):
            raise SkillError(
                f"{where}.mappings[{index}].type: expected from_entity, "
                f"from_text, from_intent or custom, got {kind!r}"
            )
        if kind == "from_entity" and not raw.get("entity"):
            raise SkillError(f"{where}.mappings[{index}]: from_entity needs an 'entity'")
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
            )
        )
    return Slot(
        name=name,
        type=str(spec.get("type", "any")),
        initial_value=spec.get("initial_value"),
        mappings=tuple(mappings),
    )


def load_skill(path: Path) -> Skill:
    parts: dict[str, Any] = {
        "regexes": {},
        "lookups": {},
        "synonyms": {},
        "responses": {},
        "response_variants": {},
        "slots": {},
        "forms": {},
    }
    if (path / "nlu.yml").is_file():
        _load_nlu(path / "nlu.yml", parts)
    if (path / "domain.yml").is_file():
        _load_domain(path / "domain.yml", parts)
    return Skill(name=path.name, path=path, **parts)


def is_skill_dir(path: Path) -> bool:
    return (path / "nlu.yml").is_file() or (path / "domain.yml").is_file()


@cache
def load_skills(paths: tuple[Path, ...]) -> SkillSet:
    """Load skill folders once per process (the NLU and the responder share them)."""
    return SkillSet(tuple(load_skill(p) for p in _expand(paths)))


def _expand(paths: Iterable[Path]) -> list[Path]:
    """A path is a skill folder, or a folder whose subfolders are skills."""
    found: list[Path] = []
    for path in paths:
        if is_skill_dir(path):
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if is_skill_dir(p)))
        else:
            raise SkillError(f"{path}: not a skill folder (expected nlu.yml or domain.yml)")
    return found
