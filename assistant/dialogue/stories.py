"""Rasa 3.x rules and stories as plain data: the dialogue policy's training data.

A Rasa project keeps them in `data/*.yml` under `rules:` and `stories:` (any file, any name).
Each step is one of: a user `intent` (with optional `entities`), an `action`, `slot_was_set`,
`active_loop`, `or` (alternatives of user or slot steps) and `checkpoint` (stories only, at the
start or the end, to join stories). A rule may add `condition` (slot and loop steps that must hold
before it), `conversation_start` and `wait_for_user_input`.

This is the policy's own small reader; the skill loader keeps the rest of a project.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ACTION_LISTEN = "action_listen"


class StoryError(Exception):
    """A rule or story is malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class UserStep:
    intent: str
    entities: tuple[str, ...] = ()  # the entity names the step expects


@dataclass(frozen=True, slots=True)
class ActionStep:
    name: str


@dataclass(frozen=True, slots=True)
class SlotStep:
    name: str
    value: Any = None
    any_value: bool = False  # `- slot_was_set: [name]`: set to something


@dataclass(frozen=True, slots=True)
class LoopStep:
    name: str | None  # None: no form is active (`active_loop: null`)


@dataclass(frozen=True, slots=True)
class OrStep:
    options: tuple[tuple[UserStep | SlotStep, ...], ...]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    name: str


Step = UserStep | ActionStep | SlotStep | LoopStep | OrStep | Checkpoint
Plain = UserStep | ActionStep | SlotStep | LoopStep  # a step once `or` is expanded


@dataclass(frozen=True)
class Rule:
    name: str
    steps: tuple[Step, ...]
    condition: tuple[SlotStep | LoopStep, ...] = ()
    conversation_start: bool = False
    wait_for_user_input: bool = True


@dataclass(frozen=True)
class Story:
    name: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class DialogueData:
    rules: tuple[Rule, ...] = ()
    stories: tuple[Story, ...] = ()

    def __add__(self, other: DialogueData) -> DialogueData:
        return DialogueData(self.rules + other.rules, self.stories + other.stories)


# --- reading ----------------------------------------------------------------------------------


def data_files(project: Path) -> list[Path]:
    """The YAML files of a project that may hold rules or stories."""
    found = [project / n for n in ("rules.yml", "stories.yml") if (project / n).is_file()]
    data = project / "data"
    if data.is_dir():
        found += sorted(p for p in data.rglob("*") if p.suffix in (".yml", ".yaml"))
    return found


def read_projects(projects: Iterable[Path]) -> DialogueData:
    total = DialogueData()
    for project in projects:
        for path in data_files(project):
            total = total + read_file(path)
    return total


def read_file(path: Path) -> DialogueData:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise StoryError(f"{path}: invalid YAML ({exc})") from None
    if not isinstance(data, dict):
        return DialogueData()
    rules = tuple(_rule(f"{path}: rules[{i}]", r) for i, r in enumerate(data.get("rules") or []))
    stories = tuple(
        Story(_title(f"{path}: stories[{i}]", s, "story"), _steps(f"{path}: stories[{i}]", s))
        for i, s in enumerate(data.get("stories") or [])
    )
    return DialogueData(rules, stories)


def _title(where: str, entry: Any, key: str) -> str:
    if not isinstance(entry, dict) or key not in entry:
        raise StoryError(f"{where}: expected a mapping with '{key}' and 'steps'")
    return str(entry[key])


def _rule(where: str, entry: Any) -> Rule:
    name = _title(where, entry, "rule")
    condition = []
    for step in _raw_steps(f"{where}.condition", entry.get("condition")):
        parsed = list(_step(f"{where}.condition", step))
        if not all(isinstance(s, SlotStep | LoopStep) for s in parsed):
            raise StoryError(f"{where}.condition: only slot_was_set and active_loop may be used")
        condition += parsed
    return Rule(
        name=name,
        steps=_steps(where, entry),
        condition=tuple(condition),  # type: ignore[arg-type]
        conversation_start=bool(entry.get("conversation_start", False)),
        wait_for_user_input=bool(entry.get("wait_for_user_input", True)),
    )


def _raw_steps(where: str, steps: Any) -> list[Any]:
    if steps is None:
        return []
    if not isinstance(steps, list):
        raise StoryError(f"{where}: expected a list of steps")
    return steps


def _steps(where: str, entry: dict[str, Any]) -> tuple[Step, ...]:
    return tuple(
        step
        for index, raw in enumerate(_raw_steps(f"{where}.steps", entry.get("steps")))
        for step in _step(f"{where}.steps[{index}]", raw)
    )


def _step(where: str, raw: Any) -> Iterator[Step]:
    if not isinstance(raw, dict):
        raise StoryError(f"{where}: expected a mapping such as 'intent: greet'")
    if "intent" in raw:
        yield UserStep(str(raw["intent"]), _entity_names(raw.get("entities")))
    elif "user" in raw:
        raise StoryError(f"{where}: a 'user' text step needs an 'intent' (end-to-end stories)")
    elif "action" in raw:
        yield ActionStep(str(raw["action"]))
    elif "slot_was_set" in raw:
        yield from _slots(where, raw["slot_was_set"])
    elif "active_loop" in raw:
        yield LoopStep(None if raw["active_loop"] is None else str(raw["active_loop"]))
    elif "or" in raw:
        options = []
        for index, option in enumerate(_raw_steps(f"{where}.or", raw["or"])):
            parsed = tuple(_step(f"{where}.or[{index}]", option))
            if not all(isinstance(s, UserStep | SlotStep) for s in parsed):
                raise StoryError(f"{where}.or: only intents and slot_was_set may be alternatives")
            options.append(parsed)
        yield OrStep(tuple(options))  # type: ignore[arg-type]
    elif "checkpoint" in raw:
        yield Checkpoint(str(raw["checkpoint"]))
    else:
        raise StoryError(
            f"{where}: expected one of intent, action, slot_was_set, active_loop, or, checkpoint"
        )


def _entity_names(entities: Any) -> tuple[str, ...]:
    names = []
    for entity in entities or []:
        if isinstance(entity, str):
            names.append(entity)
        elif isinstance(entity, dict) and "entity" in entity:
            names.append(str(entity["entity"]))
        elif isinstance(entity, dict):  # `- city: Berlin` with optional role and group
            names += [str(k) for k in entity if k not in ("role", "group", "value")]
    return tuple(sorted(set(names)))


def _slots(where: str, raw: Any) -> Iterator[SlotStep]:
    if not isinstance(raw, list):
        raise StoryError(f"{where}.slot_was_set: expected a list of 'name: value' or names")
    for item in raw:
        if isinstance(item, str):
            yield SlotStep(item, any_value=True)
        elif isinstance(item, dict):
            for name, value in item.items():
                yield SlotStep(str(name), value)
        else:
            raise StoryError(f"{where}.slot_was_set: {item!r} is not a slot")


# --- expanding `or` and checkpoints ------------------------------------------------------------


def expand_or(steps: tuple[Step, ...]) -> list[tuple[Step, ...]]:
    """Every linear version of `steps`, one per choice of each `or`."""
    versions: list[tuple[Step, ...]] = [()]
    for step in steps:
        if isinstance(step, OrStep):
            versions = [v + option for v in versions for option in step.options]
        else:
            versions = [(*v, step) for v in versions]
    return versions


MAX_JOINS = 6  # how many checkpoint joins deep a story is followed (checkpoints may loop)


def linear_stories(stories: Iterable[Story]) -> list[tuple[Plain, ...]]:
    """The stories as plain step sequences from the start of a conversation: `or` expanded and
    stories that end in a checkpoint joined with those that start from it."""
    starts: dict[str, list[tuple[Step, ...]]] = {}
    roots: list[tuple[Step, ...]] = []
    for story in stories:
        for steps in expand_or(story.steps):
            if steps and isinstance(steps[0], Checkpoint):
                starts.setdefault(steps[0].name, []).append(steps[1:])
            else:
                roots.append(steps)
    done: list[tuple[Plain, ...]] = []
    for root in roots:
        done += _joined(root, starts, 0)
    return done


def _joined(
    steps: tuple[Step, ...], starts: dict[str, list[tuple[Step, ...]]], depth: int
) -> list[tuple[Plain, ...]]:
    ends = [s.name for s in steps if isinstance(s, Checkpoint)]
    plain = tuple(s for s in steps if not isinstance(s, Checkpoint | OrStep))
    followers = [f for name in ends for f in starts.get(name, [])]
    if not followers or depth >= MAX_JOINS:
        return [plain]
    joined: list[tuple[Plain, ...]] = []
    for follower in followers:
        joined += _joined(plain + follower, starts, depth + 1)
    return joined


# --- what the policy needs of the domain ------------------------------------------------------


@dataclass(frozen=True)
class DomainPolicyData:
    """The domain's declared custom actions and its slots that do not influence the
    conversation (`influence_conversation: false`, or of type `any`)."""

    actions: tuple[str, ...] = ()
    quiet_slots: frozenset[str] = frozenset()


def domain_files(project: Path) -> list[Path]:
    """`domain.yml`, or every YAML file of a `domain/` folder (Rasa merges them)."""
    if (project / "domain.yml").is_file():
        return [project / "domain.yml"]
    folder = project / "domain"
    return (
        sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml"))
        if folder.is_dir()
        else []
    )


def read_domains(projects: Iterable[Path]) -> DomainPolicyData:
    actions: list[str] = []
    quiet: set[str] = set()
    for path in (p for project in projects for p in domain_files(project)):
        try:
            domain = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise StoryError(f"{path}: invalid YAML ({exc})") from None
        if not isinstance(domain, dict):
            continue
        for item in domain.get("actions") or []:
            # `- action_x` or, since Rasa 3.?, `- action_x: {send_domain: true}`
            actions += [str(k) for k in item] if isinstance(item, dict) else [str(item)]
        for name, spec in (domain.get("slots") or {}).items():
            spec = spec or {}
            if spec.get("type") == "any" or spec.get("influence_conversation") is False:
                quiet.add(str(name))
    return DomainPolicyData(tuple(dict.fromkeys(actions)), frozenset(quiet))


MEMOIZATION = ("MemoizationPolicy", "AugmentedMemoizationPolicy")


def read_max_history(projects: Iterable[Path], default: int = 5) -> int:
    """`max_history` of the MemoizationPolicy in a project's config.yml (Rasa's default: 5)."""
    for project in projects:
        path = project / "config.yml"
        if not path.is_file():
            continue
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise StoryError(f"{path}: invalid YAML ({exc})") from None
        for policy in (config.get("policies") or []) if isinstance(config, dict) else []:
            if isinstance(policy, dict) and policy.get("name") in MEMOIZATION:
                value = policy.get("max_history", default)
                if not isinstance(value, int) or value < 1:
                    raise StoryError(
                        f"{path}: {policy['name']}.max_history: expected a number >= 1"
                    )
                return value
    return default
