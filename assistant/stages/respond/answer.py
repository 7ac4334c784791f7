"""A turn's answer as the chain's steps build it, and the skills' two ways of adding to it.

`Answer` collects what the steps say and the events they cause (actions run, slots set); the
chain stage sends them as one `DialogueUpdate` and a `Reply`. `SkillAnswers` is how a step says
something the skills wrote: a response template (`utter_*`) with its `{slot}` placeholders
filled, or a custom action (rasa-sdk) run on the tracker as it stands mid-turn, with the events
this turn has caused so far. Forms, actions, templates and the knowledge step's honest "I don't
know" all go through it, so they fill templates and run actions the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.dialogue.actions import ActionError, ActionRunner
from assistant.dialogue.events import JSON, ActionExecuted, BotUttered, Event, SlotSet
from assistant.dialogue.responses import ResponsePicker
from assistant.dialogue.tracker import Tracker
from assistant.generation import SentenceStream
from assistant.messages import DialogueState

log = logging.getLogger(__name__)


@dataclass
class Answer:
    """What one turn's steps produced so far."""

    texts: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    source: str = ""
    # The model is still writing: its first sentence is out, the rest follows (see the chain's
    # `process`).
    stream: SentenceStream | None = None
    # Gives the model back to other turns once the stream is over (or stopped): the chain
    # calls it last (see `Generation.step`).
    release: Callable[[], None] | None = None

    def say(self, text: str, source: str) -> None:
        self.texts.append(text)
        self.events.append(BotUttered(text=text))
        self.source = self.source or source


class SkillAnswers:
    """The skills' response templates and custom actions, as the chain's steps use them."""

    def __init__(
        self, picker: ResponsePicker, actions: ActionRunner, domain: JSON, apology: str
    ) -> None:
        self.picker = picker
        self.actions = actions
        self.domain = domain
        self.apology = apology  # said when a custom action fails or times out

    def template(
        self,
        name: str,
        state: DialogueState,
        pending: list[Event] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str | None:
        """A random variation of a response, with `{slot}` placeholders filled from the slots
        (including those the turn has just set), the turn's entities and `extra` values (an
        action's `utter_message(response=..., **values)`)."""
        values = dict(slot_values(state, pending or []))
        values.update(extra or {})
        return self.picker.choose(state.session_id, name, values)

    def say_template(self, name: str, state: DialogueState, answer: Answer) -> bool:
        """Say response `name` if the skills have it; False if they do not."""
        text = self.template(name, state, answer.events)
        if text is None:
            return False
        answer.events.append(ActionExecuted(name=name))
        answer.say(text, "template")
        return True

    async def run_action(self, name: str, state: DialogueState, answer: Answer) -> bool:
        """Run custom action `name` if there is one; True if the turn now has something to say
        (a failed action says the apology)."""
        if name not in self.actions.names():
            return False
        tracker = Tracker.from_events(state.session_id, (*state.events, *answer.events))
        try:
            result = await self.actions.run(name, tracker.to_rasa_json(), self.domain)
        except ActionError as exc:
            log.warning("%s", exc)
            answer.events.append(ActionExecuted(name=name))
            answer.say(self.apology, "action-error")
            return True
        answer.events += [ActionExecuted(name=name), *result.events]
        for utterance in result.utterances:
            text = utterance.text
            if utterance.template is not None:
                text = self.template(
                    utterance.template, state, answer.events, dict(utterance.values)
                )
            if text:
                answer.say(text, "action")
        return bool(answer.texts)


def slot_values(state: DialogueState, pending: list[Event]) -> Mapping[str, Any]:
    """The values a template may use: the turn's entities, overridden by the slots, overridden
    by the slots set by `pending` events (those of the turn, not yet in the tracker)."""
    values: dict[str, Any] = {e.entity: e.value for e in state.parse.entities}
    values.update(dict(state.slots))
    for event in pending:
        if isinstance(event, SlotSet):
            values[event.name] = event.value
    return values
