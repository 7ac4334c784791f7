"""Rasa 3.x rules and stories as the dialogue policy's steps.

The skill loader reads them from a project's `data/*.yml` (`assistant.skills.stories`); here
each step becomes one of a small set of types the policy walks: a user `intent` (with the entity
names it expects), an `action`, a slot set (`slot_was_set`, one step per slot), `active_loop`,
`or` (alternatives of user or slot steps) and `checkpoint` (stories only, at the start or the end,
to join stories). `or` and checkpoints are expanded into plain step sequences here too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from assistant.skills import stories as skills

log = logging.getLogger(__name__)

ACTION_LISTEN = "action_listen"


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


# --- from the skill loader's rules and stories -------------------------------------------------


def from_skills(rules: Iterable[skills.Rule], stories: Iterable[skills.Story]) -> DialogueData:
    """The loader's rules and stories (`assistant.skills.stories`) as the policy's steps."""
    return DialogueData(
        tuple(
            Rule(
                name=rule.name,
                steps=_converted(rule.steps),
                condition=tuple(
                    s for s in _converted(rule.condition) if isinstance(s, SlotStep | LoopStep)
                ),
                conversation_start=rule.conversation_start,
                wait_for_user_input=rule.wait_for_user_input,
            )
            for rule in rules
        ),
        tuple(Story(story.name, _converted(story.steps)) for story in stories),
    )


def _converted(steps: Iterable[skills.Step]) -> tuple[Step, ...]:
    return tuple(s for step in steps for s in _step(step))


def _step(step: skills.Step) -> Iterator[Step]:
    if step.kind == "intent":
        yield UserStep(str(step.name), tuple(sorted({e.entity for e in step.entities})))
    elif step.kind == "action":
        yield ActionStep(str(step.name))
    elif step.kind == "slot_was_set":
        for slot in step.slots:
            any_value = slot.value is skills.ANY_VALUE
            yield SlotStep(slot.slot, None if any_value else slot.value, any_value)
    elif step.kind == "active_loop":
        yield LoopStep(step.name)
    elif step.kind == "checkpoint":
        yield Checkpoint(str(step.name))
    elif step.kind == "or":
        options = tuple(tuple(_step(choice)) for choice in step.alternatives)
        yield OrStep(options)  # type: ignore[arg-type]


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


MEMOIZATION = ("MemoizationPolicy", "AugmentedMemoizationPolicy")


def max_history(config: Mapping[str, Any], default: int = 5) -> int:
    """`max_history` of the MemoizationPolicy in a project's config.yml (Rasa's default: 5)."""
    for policy in config.get("policies") or []:
        if isinstance(policy, dict) and policy.get("name") in MEMOIZATION:
            value = policy.get("max_history", default)
            if isinstance(value, int) and value >= 1:
                return value
            log.warning(
                "config.yml: %s.max_history must be a number >= 1; using %d",
                policy["name"],
                default,
            )
    return default
