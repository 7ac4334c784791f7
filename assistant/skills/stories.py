"""Rasa 3.x rules and stories (`data/rules.yml`, `data/stories.yml`) as plain data.

Only parsing lives here; what the steps mean for the next action is the dialogue policy's job
(`assistant.dialogue.policy`). Steps keep Rasa's order and names: an `intent` step (with the
entities it expects), an `action` step, `slot_was_set`, `active_loop` (None for `null`, the
form ending), `checkpoint`, and `or` (alternatives, each itself a step).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.skills.errors import SkillError as StoryError
from assistant.skills.notices import unsupported

ANY_VALUE: Any = type("AnyValue", (), {"__repr__": lambda self: "ANY_VALUE"})()
"""The value of a slot or entity listed by name only (`- cuisine`): any value matches."""


@dataclass(frozen=True, slots=True)
class EntityCondition:
    entity: str
    value: Any = ANY_VALUE
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class SlotSet:
    """`slot_was_set: [- name: value]`; value ANY_VALUE for `- name` alone."""

    slot: str
    value: Any = ANY_VALUE


@dataclass(frozen=True, slots=True)
class Step:
    """One step. `kind` is intent, action, slot_was_set, active_loop, checkpoint or or."""

    kind: str
    name: str | None = None  # intent, action, loop (None: the loop ends) or checkpoint name
    entities: tuple[EntityCondition, ...] = ()  # an intent step's entities
    slots: tuple[SlotSet, ...] = ()  # a slot_was_set step's slots
    alternatives: tuple[Step, ...] = ()  # an `or` step's alternatives


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    steps: tuple[Step, ...]
    condition: tuple[Step, ...] = ()  # active_loop and slot_was_set steps
    conversation_start: bool = False
    wait_for_user_input: bool = True
    source: str = ""  # the file it came from


@dataclass(frozen=True, slots=True)
class Story:
    name: str
    steps: tuple[Step, ...]
    source: str = ""


_RULE_KEYS = {"rule", "steps", "condition", "conversation_start", "wait_for_user_input"}
_STORY_KEYS = {"story", "steps"}


def parse_rules(path: Path, entries: Any) -> tuple[Rule, ...]:
    rules = []
    for index, entry in enumerate(_entries(path, "rules", entries)):
        where = f"{path}: rules[{index}]"
        _check_entry(path, "rules", entry, _RULE_KEYS, where)
        name = str(entry.get("rule") or f"rule {index + 1}")
        steps = _steps(path, entry.get("steps"), f"{where} ({name}).steps")
        if steps is None:
            continue
        condition = _steps(path, entry.get("condition") or [], f"{where} ({name}).condition")
        rules.append(
            Rule(
                name=name,
                steps=steps,
                condition=condition or (),
                conversation_start=bool(entry.get("conversation_start", False)),
                wait_for_user_input=bool(entry.get("wait_for_user_input", True)),
                source=str(path),
            )
        )
    return tuple(rules)


def parse_stories(path: Path, entries: Any) -> tuple[Story, ...]:
    stories = []
    for index, entry in enumerate(_entries(path, "stories", entries)):
        where = f"{path}: stories[{index}]"
        _check_entry(path, "stories", entry, _STORY_KEYS, where)
        name = str(entry.get("story") or f"story {index + 1}")
        steps = _steps(path, entry.get("steps"), f"{where} ({name}).steps")
        if steps is not None:
            stories.append(Story(name=name, steps=steps, source=str(path)))
    return tuple(stories)


def _entries(path: Path, key: str, entries: Any) -> list[dict[str, Any]]:
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise StoryError(f"{path}: {key}: expected a list of mappings")
    return entries


def _check_entry(path: Path, key: str, entry: dict[str, Any], known: set[str], where: str) -> None:
    if "steps" not in entry:
        raise StoryError(f"{where}: needs 'steps'")
    for extra in entry:
        if extra not in known and extra != "metadata":
            unsupported(path, f"{key}[].{extra}", "it is ignored")


def _steps(path: Path, raw: Any, where: str) -> tuple[Step, ...] | None:
    """The steps, or None when one of them is an end-to-end step the assistant cannot follow
    (the story or rule is then left out, with a warning)."""
    if not isinstance(raw, list):
        raise StoryError(f"{where}: expected a list of steps")
    steps = []
    for index, item in enumerate(raw):
        step = _step(path, item, f"{where}[{index}]")
        if step is None:
            return None
        steps.append(step)
    return tuple(steps)


def _step(path: Path, item: Any, where: str) -> Step | None:
    if not isinstance(item, dict) or not item:
        raise StoryError(f"{where}: expected a step such as '- intent: greet'")
    if "intent" in item:
        if "user" in item:
            unsupported(path, "steps[].user", "the step's intent is used, not its text")
        return Step("intent", str(item["intent"]), entities=_entities(item.get("entities"), where))
    if "action" in item:
        return Step("action", str(item["action"]))
    if "slot_was_set" in item:
        return Step("slot_was_set", slots=_slots(item["slot_was_set"], where))
    if "active_loop" in item:
        loop = item["active_loop"]
        return Step("active_loop", None if loop in (None, "null") else str(loop))
    if "checkpoint" in item:
        return Step("checkpoint", str(item["checkpoint"]))
    if "or" in item:
        choices = item["or"]
        if not isinstance(choices, list) or not choices:
            raise StoryError(f"{where}.or: expected a list of alternative steps")
        alternatives = [_step(path, c, f"{where}.or[{i}]") for i, c in enumerate(choices)]
        if any(a is None for a in alternatives):
            return None
        return Step("or", alternatives=tuple(a for a in alternatives if a is not None))
    if "user" in item or "bot" in item:
        key = "user" if "user" in item else "bot"
        unsupported(
            path,
            f"steps[].{key}",
            "end-to-end steps are not followed; the rule or story that has one is left out",
        )
        return None
    raise StoryError(
        f"{where}: expected one of intent, action, slot_was_set, active_loop, checkpoint, or"
    )


def _entities(raw: Any, where: str) -> tuple[EntityCondition, ...]:
    found = []
    for item in raw or []:
        if isinstance(item, str):
            found.append(EntityCondition(item))
        elif isinstance(item, dict) and "entity" in item:
            found.append(
                EntityCondition(
                    str(item["entity"]),
                    item.get("value", ANY_VALUE),
                    _opt(item.get("role")),
                    _opt(item.get("group")),
                )
            )
        elif isinstance(item, dict):
            names = [k for k in item if k not in ("role", "group")]
            if len(names) != 1:
                raise StoryError(f"{where}.entities: expected '- name: value' entries")
            found.append(
                EntityCondition(
                    str(names[0]), item[names[0]], _opt(item.get("role")), _opt(item.get("group"))
                )
            )
        else:
            raise StoryError(f"{where}.entities: expected '- name' or '- name: value' entries")
    return tuple(found)


def _slots(raw: Any, where: str) -> tuple[SlotSet, ...]:
    if isinstance(raw, dict):  # `slot_was_set: {name: value}` is accepted too
        raw = [{k: v} for k, v in raw.items()]
    if not isinstance(raw, list):
        raise StoryError(f"{where}.slot_was_set: expected a list of '- slot: value' entries")
    found = []
    for item in raw:
        if isinstance(item, str):
            found.append(SlotSet(item))
        elif isinstance(item, dict) and len(item) == 1:
            ((name, value),) = item.items()
            found.append(SlotSet(str(name), value))
        else:
            raise StoryError(f"{where}.slot_was_set: expected '- slot: value' entries")
    return tuple(found)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
