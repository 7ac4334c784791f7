"""Forms as Rasa runs them: ask for the required slots one by one, validating what the user gave.

`Forms.run(name, ...)` is the form action: whatever starts a form (a rule or story of the dialogue
policy, or the chain's convention below) calls it, and while the form is active it runs once per
user turn. One run:

1. activates the form (`ActiveLoop`) if it is not active yet;
2. takes the slot values the turn filled (on activation: every required slot already set) and, if
   the skills have `validate_<form>` (rasa-sdk's `FormValidationAction`, in-process or on the
   action server), runs it with those values last on the tracker, as Rasa does; its
   `validate_<slot>` methods may reject a value (set it to None, with their own message), its
   `extract_<slot>` methods may fill custom slots and its `required_slots` may change the slots
   asked for (or end the form with `requested_slot: None`);
3. asks for the next missing slot with `utter_ask_<form>_<slot>`, `utter_ask_<slot>` or the
   action `action_ask_<slot>`; when the user's answer filled nothing and nothing else was said,
   `utter_invalid_<slot>` comes first;
4. or, with nothing missing, deactivates the form (`ActiveLoop(None)`). The slots stay set, as in
   Rasa; what follows (the submit rule's actions) is the dialogue policy's.

A run where the requested slot was not filled and no other slot either is `REJECTED` (Rasa's
`ActionExecutionRejection`) and changes nothing: the caller answers the message otherwise (a
rule about it), then `Forms.resume` asks the form's question again, as the form action does when
a rule runs it after answering something else.

The chain's own convention, for skills without rules: a form named `<intent>_form` starts when its
intent is predicted; when it is complete it runs `action_<intent>` (or says `utter_<intent>`) and
clears its slots for the next time. While a form is active, an exit intent (`stop`) cancels it,
and a message of another intent that fills no slot is a digression: the form is dropped and the
rest of the chain answers the new intent. A reminder that fires is not the user's answer, so it
never touches a form. A form's `ignored_intents` are honoured where slots are filled
(`assistant.dialogue.slots`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from assistant.dialogue.actions import ActionError
from assistant.dialogue.events import (
    REQUESTED_SLOT,
    ActionExecuted,
    ActiveLoop,
    Event,
    SlotSet,
    UserUttered,
)
from assistant.messages import DialogueState
from assistant.skills.loader import Form
from assistant.stages.respond.answer import Answer, SkillAnswers, slot_values


class FormRun(Enum):
    ASKED = "asked"  # the form asked for a slot: the turn waits for the user
    DONE = "done"  # every required slot is set: the form is deactivated
    REJECTED = "rejected"  # the user's message filled nothing the form asked for


class Forms:
    """The skills' forms, asked and validated through `answers`."""

    def __init__(
        self, forms: Mapping[str, Form], exit_intents: Sequence[str], answers: SkillAnswers
    ) -> None:
        self.forms = forms
        self.exit_intents = exit_intents
        self.answers = answers

    async def step(self, state: DialogueState, answer: Answer) -> bool:
        """The chain step: True when a form answered the turn."""
        if state.proactive:
            return False  # a timer ending is not the user's answer to the form's question
        intent = state.parse.intent.name
        if state.active_form is not None and state.active_form in self.forms:
            form = self.forms[state.active_form]
            if intent in self.exit_intents:
                self.cancel(form, state, answer)
                return True
            run = await self.run(form.name, state, answer)
            if run is FormRun.REJECTED:
                if intent not in (form_intent(form), "out_of_scope"):
                    # The user moved on to something else: drop the form, answer the new intent.
                    answer.events += [ActiveLoop(name=None), *reset(form)]
                    return False
                await self.resume(form.name, state, answer)
                return True
            return await self._after(form, run, state, answer)
        new_form = self.forms.get(f"{intent}_form")
        if new_form is None:
            return False
        return await self._after(
            new_form, await self.run(new_form.name, state, answer), state, answer
        )

    def cancel(self, form: Form, state: DialogueState, answer: Answer) -> None:
        """The user asked to stop: the form ends and forgets what it had."""
        answer.events += [ActiveLoop(name=None), *reset(form)]
        answer.say(
            self.answers.template("utter_form_cancelled", state) or "Okay, cancelled.", "form"
        )

    async def resume(self, name: str, state: DialogueState, answer: Answer) -> FormRun:
        """Run form `name` without taking the user's message as its answer: after a rejected
        run, or when a rule answered something in the middle of the form. Asks for the slot it
        was asking for (or the first missing one), with "didn't get that" first only when
        nothing else answered the message; with none missing, deactivates the form."""
        form = self.forms[name]
        answer.events.append(ActionExecuted(name=name))
        if not (state.active_form == name or _activated_this_turn(answer, name)):
            answer.events.append(ActiveLoop(name=name))
        values = slot_values(state, answer.events, entities=False)
        asked = state.requested_slot
        slot = asked if asked and values.get(asked) is None else None
        slot = slot or self._first_missing(form, state, answer)
        if slot is None:
            answer.events += [SlotSet(name=REQUESTED_SLOT, value=None), ActiveLoop(name=None)]
            return FormRun.DONE
        await self._ask(form, slot, not answer.texts, state, answer)
        return FormRun.ASKED

    async def _after(self, form: Form, run: FormRun, state: DialogueState, answer: Answer) -> bool:
        """The chain's convention once a form is complete: submit it with `action_<intent>` or
        `utter_<intent>` and clear its slots. Without either (a form a rule submits), the slots
        stay and the turn is answered by what the form said."""
        if run is not FormRun.DONE:
            return True
        submitted = form_intent(form)
        done = await self.answers.run_action(
            f"action_{submitted}", state, answer
        ) or self.answers.say_template(f"utter_{submitted}", state, answer)
        if done:
            answer.events += reset(form)
        return done or bool(answer.texts)

    async def run(self, name: str, state: DialogueState, answer: Answer) -> FormRun:
        """Run form `name` with the user's message as its answer (see the module's docstring).
        A `REJECTED` run leaves `answer` as it found it: the caller answers the message."""
        form = self.forms[name]
        active = state.active_form == name or _activated_this_turn(answer, name)
        before = (len(answer.events), list(answer.texts), answer.source)
        answer.events.append(ActionExecuted(name=name))
        if not active:
            answer.events.append(ActiveLoop(name=name))
            candidates = self._prefilled(form, state, answer)
        else:
            candidates = candidates_this_turn(state)
        said_before, start = len(answer.texts), len(answer.events)
        next_slot = await self._validate(form, candidates, state, answer)
        validated = [e for e in answer.events[start:] if isinstance(e, SlotSet)]
        if active and _rejected(state, candidates, validated):
            del answer.events[before[0] :]
            answer.texts[:], answer.source = before[1], before[2]
            return FormRun.REJECTED
        if next_slot is _UNSET:
            next_slot = self._first_missing(form, state, answer)
        if next_slot is None:
            answer.events += [SlotSet(name=REQUESTED_SLOT, value=None), ActiveLoop(name=None)]
            return FormRun.DONE
        slot = str(next_slot)
        retry = active and state.requested_slot == slot and len(answer.texts) == said_before
        await self._ask(form, slot, retry, state, answer)
        return FormRun.ASKED

    def _prefilled(self, form: Form, state: DialogueState, answer: Answer) -> list[SlotSet]:
        """On activation Rasa validates the required slots already set, as if just given."""
        values = slot_values(state, answer.events, entities=False)
        return [
            SlotSet(name=slot, value=values[slot])
            for slot in form.required_slots
            if values.get(slot) is not None
        ]

    async def _validate(
        self, form: Form, candidates: list[SlotSet], state: DialogueState, answer: Answer
    ) -> Any:
        """Run `validate_<form>` if there is one; the next slot it requests, or `_UNSET`."""
        action = f"validate_{form.name}"
        if not self.answers.has_action(action):
            return _UNSET
        try:
            result = await self.answers.call_action(action, state, answer, candidates)
        except ActionError as exc:
            self.answers.apologize(action, exc, answer)
            return _UNSET
        # As in Rasa, the action's responses are filled from the slots before its events
        # ("we don't serve {cuisine}" names the rejected value).
        self.answers.say_utterances(result, state, answer, [*answer.events, *candidates])
        requested: Any = _UNSET
        for event in result.events:
            if isinstance(event, SlotSet) and event.name == REQUESTED_SLOT:
                requested = event.value
            else:
                answer.events.append(event)
        return requested

    def _first_missing(self, form: Form, state: DialogueState, answer: Answer) -> str | None:
        values = slot_values(state, answer.events, entities=False)
        return next((s for s in form.required_slots if values.get(s) is None), None)

    async def _ask(
        self, form: Form, slot: str, retry: bool, state: DialogueState, answer: Answer
    ) -> None:
        answer.events.append(SlotSet(name=REQUESTED_SLOT, value=slot))
        if retry:
            invalid = self.answers.template(f"utter_invalid_{slot}", state, answer.events)
            answer.say(invalid or "Sorry, I didn't get that.", "form")
        # As in Rasa, the question is part of the form action: no ActionExecuted of its own
        # (the form stays the latest action, which is how a policy knows it has asked). Rasa's
        # order: action_ask_<form>_<slot>, utter_ask_<form>_<slot>, action_ask_<slot>, utter_...
        for prefix in (f"ask_{form.name}_{slot}", f"ask_{slot}"):
            if await self._ask_action(f"action_{prefix}", state, answer):
                return
            chosen = self.answers.response(f"utter_{prefix}", state, answer.events)
            if chosen is not None:
                answer.say(chosen.text, "form", chosen.data)
                return
        answer.say(f"What {slot.replace('_', ' ')}?", "form")

    async def _ask_action(self, name: str, state: DialogueState, answer: Answer) -> bool:
        if not self.answers.has_action(name):
            return False
        try:
            result = await self.answers.call_action(name, state, answer)
        except ActionError as exc:
            self.answers.apologize(name, exc, answer)
            return True
        self.answers.say_utterances(result, state, answer)
        answer.events += result.events
        return True


_UNSET: Any = object()  # the validation action did not say which slot comes next


def _activated_this_turn(answer: Answer, name: str) -> bool:
    return any(isinstance(e, ActiveLoop) and e.name == name for e in answer.events)


def _rejected(state: DialogueState, candidates: list[SlotSet], validated: list[SlotSet]) -> bool:
    """Rasa's rejection: a slot was requested, and the message gave neither it nor any other."""
    given = {e.name for e in (*candidates, *validated) if e.name != REQUESTED_SLOT}
    return state.requested_slot is not None and not given


def candidates_this_turn(state: DialogueState) -> list[SlotSet]:
    """The slots the user's latest message set (the events after the last UserUttered)."""
    found: list[SlotSet] = []
    for event in reversed(state.events):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, SlotSet) and event.name != REQUESTED_SLOT:
            found.append(event)
    return found[::-1]


def form_intent(form: Form) -> str:
    """The intent a form serves by the chain's convention: `<intent>_form` -> `<intent>`."""
    return form.name.removesuffix("_form")


def reset(form: Form) -> list[Event]:
    """The events that clear a form's slots."""
    return [SlotSet(name=slot, value=None) for slot in form.required_slots]
