"""The dialogue policy of a Rasa project: its rules and stories decide the next action.

As in Rasa, the conversation is a sequence of *states* (the latest intent and its entities, the
previous action, the slots that influence the conversation, the active form), one before each
action, and the policies map the recent states to the next action:

- **rules** (Rasa's RulePolicy) win: a rule applies when each of its states is contained in the
  conversation's state at the same distance from the end (a rule names only what it cares about);
  `condition` adds to its first state, `conversation_start` requires it to cover the whole
  conversation, and a rule ends by waiting for the user unless `wait_for_user_input: false`,
  which lets other rules and stories go on. The longest applicable rule wins. While a form is
  active its action runs on every user message, unless a rule about that form says otherwise.
- **stories** (Rasa's MemoizationPolicy) come next: the last `max_history` states must equal
  those of a story at some point (`or` and checkpoints expanded). When none does, the oldest
  events are forgotten (with the slots they set) and the rest looked up again, as Rasa's
  AugmentedMemoizationPolicy does (we have no TEDPolicy to generalize).

`predict` returns the next action's name, `action_listen` (wait for the user) or None (no rule
or story applies: the responder's own chain answers). The policy is an engine: it reads events
and knows nothing of the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from assistant.dialogue.events import (
    REQUESTED_SLOT,
    ActionExecuted,
    ActiveLoop,
    Event,
    Restarted,
    SlotSet,
    UserUttered,
)
from assistant.dialogue.stories import (
    ACTION_LISTEN,
    ActionStep,
    DialogueData,
    LoopStep,
    Plain,
    Rule,
    SlotStep,
    Step,
    UserStep,
    expand_or,
    from_skills,
    linear_stories,
    max_history,
)
from assistant.skills.loader import SkillSet

State = frozenset[str]
MAX_HISTORY = 5  # Rasa's MemoizationPolicy default
NOT_FEATURIZED = frozenset({REQUESTED_SLOT})  # unless the rules or stories mention it


@dataclass
class _Walk:
    """The state as steps go by: what a state is made of."""

    intent: str | None = None
    entities: tuple[str, ...] = ()
    prev: str | None = None
    slots: dict[str, str] = field(default_factory=dict)  # name -> feature
    loop: str | None = None
    loop_known: bool = False  # a rule said whether a form is active

    def state(self) -> State:
        features = {f for f in self.slots.values() if f}
        if self.intent is not None:
            features.add(f"intent:{self.intent}")
            features.update(f"entity:{e}" for e in self.entities)
        if self.prev is not None:
            features.add(f"prev:{self.prev}")
        if self.loop is not None:
            features.add(f"loop:{self.loop}")
        elif self.loop_known:
            features.add("!loop")
        return frozenset(features)


@dataclass(frozen=True)
class _RulePoints:
    name: str
    states: tuple[State, ...]
    action: str
    from_start: bool


class Featurizer:
    """Turns steps (of a story, a rule or the tracker) into states, one before each action."""

    def __init__(
        self, slot_types: Mapping[str, str], slots: Iterable[str], entities: Iterable[str]
    ):
        self.slot_types = slot_types  # bool and categorical slots are featurized by value
        self.slots = frozenset(slots)
        self.entities = frozenset(entities)

    def walk(
        self, steps: Iterable[Plain], start: _Walk | None = None, rule: bool = False
    ) -> tuple[list[tuple[State, str]], _Walk]:
        """The (state, next action) pairs of `steps`, and the state after the last step."""
        now = start or _Walk()
        points: list[tuple[State, str]] = []
        for step in steps:
            if isinstance(step, UserStep):
                if now.prev is not None and now.prev != ACTION_LISTEN:
                    points.append((now.state(), ACTION_LISTEN))
                now.prev, now.intent = ACTION_LISTEN, step.intent
                now.entities = tuple(sorted(e for e in step.entities if e in self.entities))
            elif isinstance(step, ActionStep):
                if step.name != ACTION_LISTEN:
                    points.append((now.state(), step.name))
                now.prev = step.name
            elif isinstance(step, SlotStep):
                self._slot(now, step, rule)
            else:
                now.loop, now.loop_known = step.name, rule
                if step.name is None and not rule:
                    now.slots.pop(REQUESTED_SLOT, None)  # as the tracker forgets it
        return points, now

    def _slot(self, now: _Walk, step: SlotStep, rule: bool) -> None:
        if step.name not in self.slots:
            return
        if (step.value is None or step.value == []) and not step.any_value:  # [] is not set
            now.slots[step.name] = f"!slot:{step.name}" if rule else ""
        elif step.any_value or self.slot_types.get(step.name) not in ("bool", "categorical"):
            now.slots[step.name] = f"slot:{step.name}"
        else:
            now.slots[step.name] = f"slot:{step.name}={str(step.value).lower()}"


OUTSIDE_DIALOGUE = frozenset({"records_notice"})


def tracker_steps(events: Iterable[Event]) -> list[Plain]:
    """A conversation's events as steps (what was said and shown to the user is not a step).
    Turns about the assistant's own records (the consent question and its answer, a rating)
    are left out with what followed them: the rules and stories never describe them, and a
    `conversation_start` rule still starts the conversation after them."""
    steps: list[Plain] = []
    outside = False
    for event in events:
        if isinstance(event, UserUttered):
            outside = event.intent in OUTSIDE_DIALOGUE
        if outside:
            continue
        if isinstance(event, Restarted):  # `action_restart` ran this turn
            steps.clear()
        elif isinstance(event, UserUttered):
            names = tuple(str(e.get("entity", "")) for e in event.entities)
            steps.append(UserStep(event.intent, names))
        elif isinstance(event, ActionExecuted):
            steps.append(ActionStep(event.name))
        elif isinstance(event, SlotSet):
            steps.append(SlotStep(event.name, event.value))
        elif isinstance(event, ActiveLoop):
            steps.append(LoopStep(event.name))
    return steps


def _contains(state: State, rule_state: State) -> bool:
    for feature in rule_state:
        if feature == "!loop":
            if any(f.startswith("loop:") for f in state):
                return False
        elif feature.startswith("!slot:"):
            name = feature.removeprefix("!")
            if any(f == name or f.startswith(f"{name}=") for f in state):
                return False
        elif feature not in state:
            return False
    return True


class Policy:
    """Rules first, then stories; see the module's docstring."""

    def __init__(
        self,
        data: DialogueData,
        slot_types: Mapping[str, str],
        forms: Iterable[str] = (),
        history: int = MAX_HISTORY,
    ) -> None:
        self.max_history = history
        steps = [s for r in data.rules for s in (*r.condition, *r.steps)]
        steps += [s for story in data.stories for s in story.steps]
        plain = [p for s in steps for version in expand_or((s,)) for p in version]
        # The forms the rules and stories run; others (the built-in skills') the chain runs.
        named = {s.name for s in plain if isinstance(s, ActionStep | LoopStep) and s.name}
        self.forms = frozenset(forms) & named
        slots = {s.name for s in plain if isinstance(s, SlotStep)}
        entities = {e for s in plain if isinstance(s, UserStep) for e in s.entities}
        self.featurizer = Featurizer(
            slot_types, (set(slot_types) - NOT_FEATURIZED) | slots, entities
        )
        self.rules = sorted(
            (p for rule in data.rules for p in self._rule_points(rule)),
            # The longest, most specific rule first (one that covers the whole conversation beats
            # one that may start anywhere).
            key=lambda p: (len(p.states), p.from_start, sum(map(len, p.states))),
            reverse=True,
        )
        self.memory: dict[tuple[State, ...], str] = {}
        for story in linear_stories(data.stories):
            self._memorize(story)

    @property
    def empty(self) -> bool:
        return not self.rules and not self.memory

    def _rule_points(self, rule: Rule) -> list[_RulePoints]:
        found = []
        for version in expand_or(rule.steps):
            start = _Walk()
            self.featurizer.walk(rule.condition, start, rule=True)
            steps: Sequence[Step] = version
            points, end = self.featurizer.walk(steps, start, rule=True)  # type: ignore[arg-type]
            if rule.wait_for_user_input and end.prev not in (None, ACTION_LISTEN):
                points.append((end.state(), ACTION_LISTEN))
            states = [state for state, _ in points]
            for index, (_, action) in enumerate(points):
                if index == 0 and version and isinstance(version[0], ActionStep):
                    # A rule that starts with an action starts *after* it (Rasa's rule
                    # snippet): it does not predict that action anywhere.
                    continue
                found.append(
                    _RulePoints(
                        rule.name, tuple(states[: index + 1]), action, rule.conversation_start
                    )
                )
        return found

    def _memorize(self, story: Sequence[Plain]) -> None:
        points, end = self.featurizer.walk(story)
        if end.prev not in (None, ACTION_LISTEN):
            points.append((end.state(), ACTION_LISTEN))
        states = [state for state, _ in points]
        for index, (_, action) in enumerate(points):
            window = tuple(states[max(0, index + 1 - self.max_history) : index + 1])
            self.memory.setdefault(window, action)

    # --- prediction ------------------------------------------------------------------------------

    def states(self, events: Iterable[Event]) -> list[State]:
        """The conversation's states, the last one being the state now."""
        points, now = self.featurizer.walk(tracker_steps(events))
        return [*(state for state, _ in points), now.state()]

    def predict(self, events: Iterable[Event]) -> str | None:
        steps = tracker_steps(events)
        points, now = self.featurizer.walk(steps)
        states = [*(state for state, _ in points), now.state()]
        if now.loop is not None and now.loop not in self.forms:
            return None  # a form of the built-in skills' convention: the chain runs it
        if now.loop is not None and now.prev == now.loop:
            return ACTION_LISTEN  # the form has asked its question
        if now.loop is not None and now.prev == ACTION_LISTEN:
            # The active form handles the user's answer, unless a rule about that form (an
            # unhappy path: a question asked in the middle of it) says otherwise.
            return self.by_rule(states, only_loop=now.loop) or now.loop
        return self.by_rule(states) or self.by_story(steps, states)

    def by_rule(self, states: Sequence[State], only_loop: str | None = None) -> str | None:
        for rule in self.rules:
            if only_loop is not None and not any(f"loop:{only_loop}" in s for s in rule.states):
                continue
            size = len(rule.states)
            if size > len(states) or (rule.from_start and size != len(states)):
                continue
            tail = states[len(states) - size :]
            if all(_contains(have, want) for have, want in zip(tail, rule.states, strict=True)):
                return rule.action
        return None

    def by_story(self, steps: Sequence[Plain], states: Sequence[State]) -> str | None:
        found = self.memory.get(tuple(states[-self.max_history :]))
        if found is not None:
            return found
        # Forget the oldest events, and the slots they set, from one turn boundary (a user
        # message or an action) to the next, oldest first: the longest remembered history wins.
        # Only the last few boundaries: a longer tail ends with the same window.
        cuts = [i for i, s in enumerate(steps) if i and isinstance(s, UserStep | ActionStep)]
        for cut in cuts[-2 * self.max_history :]:
            points, now = self.featurizer.walk(steps[cut:])
            tail = [*(state for state, _ in points), now.state()]
            found = self.memory.get(tuple(tail[-self.max_history :]))
            if found is not None:
                return found
        return None


def skills_policy(skills: SkillSet) -> Policy | None:
    """The policy of the skills that have rules or stories (None if none has). Only their
    slots influence the conversation: the other skills' slots are not their business."""
    projects = [s for s in skills.skills if s.rules or s.stories]
    if not projects:
        return None
    data = from_skills(
        [r for s in projects for r in s.rules], [t for s in projects for t in s.stories]
    )
    slot_types = {
        name: slot.type
        for skill in projects
        for name, slot in skill.slots.items()
        if slot.influence_conversation and slot.type != "any"
    }
    history = min(max_history(skill.config) for skill in projects)
    return Policy(data, slot_types, skills.forms, history)
