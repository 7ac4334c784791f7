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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.dialogue.actions import ActionError, ActionResult, ActionRunner
from assistant.dialogue.events import JSON, ActionExecuted, BotUttered, Event, SlotSet
from assistant.dialogue.responses import Chosen, ResponsePicker
from assistant.dialogue.tracker import Tracker
from assistant.generation import SentenceStream
from assistant.messages import DialogueState, Message
from assistant.records import shown_of

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

    def say(self, text: str, source: str, data: JSON | None = None) -> None:
        """Say `text`; `data` is what a client may show besides (buttons, an image, a custom
        payload): kept in the tracker and the turn's record, never spoken. A response that is
        data only leaves an empty text, so that the turn counts as answered."""
        if text:
            self.texts[:] = [*(t for t in self.texts if t), text]
        elif not self.texts:
            self.texts.append("")
        self.events.append(BotUttered(text=text, data=data or None))
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
        chosen = self.response(name, state, pending, extra)
        return chosen.text if chosen is not None else None

    def response(
        self,
        name: str,
        state: DialogueState,
        pending: Sequence[Event] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Chosen | None:
        """Like `template`, with the data a client may show besides the words. A variation's
        `condition` is checked against the slots as the turn has left them."""
        slots = slot_values(state, pending or [], entities=False)
        values = dict(slot_values(state, pending or []))
        values.update(extra or {})
        return self.picker.pick(state.session_id, name, values, slots)

    def say_template(
        self, name: str, state: DialogueState, answer: Answer, source: str = "template"
    ) -> bool:
        """Say response `name` if the skills have it; False if they do not."""
        chosen = self.response(name, state, answer.events)
        if chosen is None:
            return False
        answer.events.append(ActionExecuted(name=name))
        answer.say(chosen.text, source, chosen.data)
        return True

    def has_action(self, name: str) -> bool:
        return name in self.actions.names()

    async def call_action(
        self, name: str, state: DialogueState, answer: Answer, tail: Sequence[Event] = ()
    ) -> ActionResult:
        """Run custom action `name` on the tracker as the turn has left it, with `tail` events
        last (a form's slot candidates, which a validation action reads from the end). Its
        events are not added to `answer`: the caller decides. Raises `ActionError`."""
        events = (*state.events, *answer.events, *tail)
        tracker = Tracker.from_events(state.session_id, events)
        return await self.actions.run(name, tracker.to_rasa_json(), self.domain)

    def say_utterances(
        self,
        result: ActionResult,
        state: DialogueState,
        answer: Answer,
        pending: Sequence[Event] | None = None,
    ) -> None:
        """Say what an action uttered, its templates filled from the slots as `pending` (by
        default: the turn so far) has left them."""
        before = list(answer.events if pending is None else pending)
        for utterance in result.utterances:
            if utterance.template is not None:
                chosen = self.response(utterance.template, state, before, dict(utterance.values))
                if chosen is not None:
                    answer.say(chosen.text, "action", chosen.data)
            elif utterance.text or utterance.data:
                answer.say(utterance.text or "", "action", dict(utterance.data))

    async def run_action(self, name: str, state: DialogueState, answer: Answer) -> bool:
        """Run custom action `name` if there is one; True if the turn now has something to say
        (a failed action says the apology)."""
        if not self.has_action(name):
            return False
        try:
            result = await self.call_action(name, state, answer)
        except ActionError as exc:
            self.apologize(name, exc, answer)
            return True
        answer.events += [ActionExecuted(name=name), *result.events]
        self.say_utterances(result, state, answer)
        return bool(answer.texts)

    def apologize(self, name: str, error: ActionError, answer: Answer) -> None:
        log.warning("%s", error)
        answer.events.append(ActionExecuted(name=name))
        answer.say(self.apology, "action-error")


def slot_values(
    state: DialogueState, pending: Sequence[Event], *, entities: bool = True
) -> Mapping[str, Any]:
    """The values a template may use: the turn's entities, overridden by the slots, overridden
    by the slots set by `pending` events (those of the turn, not yet in the tracker)."""
    values: dict[str, Any] = {e.entity: e.value for e in state.parse.entities} if entities else {}
    values.update(dict(state.slots))
    for event in pending:
        if isinstance(event, SlotSet):
            values[event.name] = event.value
    return values


def shown_record(produced: Sequence[Message]) -> dict[str, Any]:
    """The turn's record of what a client may show besides the words (`responses`: each
    utterance's buttons, image, custom payload), or nothing when there is none. The responder
    stage's `turn_record` returns it."""
    shown = shown_of(produced)
    return {"responses": shown} if shown else {}
