"""The chain's forms step: a skill's form asks for its slots one by one, then does its job.

Conventions, as in Rasa: a form named `<intent>_form` starts when its intent is predicted and asks
for each missing required slot with `utter_ask_<slot>` (after `utter_invalid_<slot>` when the
user's answer did not fill the slot it asked for); when all are filled it runs `action_<intent>`
(or says `utter_<intent>`) and clears its slots for the next time.

While a form is active, an exit intent (`stop`) cancels it. A message of another intent that
fills no slot is a digression: the form is dropped and the rest of the chain answers the new
intent. A reminder that fires is not the user's answer, so it never touches a form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assistant.dialogue.events import ActiveLoop, Event, SlotSet, UserUttered
from assistant.messages import DialogueState
from assistant.skills.loader import Form
from assistant.stages.respond.answer import Answer, SkillAnswers


class Forms:
    """The skills' forms, asked and submitted through `answers`."""

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
                answer.events += [ActiveLoop(name=None), *reset(form)]
                answer.say(
                    self.answers.template("utter_form_cancelled", state) or "Okay, cancelled.",
                    "form",
                )
                return True
            if digressed(state, form):
                # The user moved on to something else: drop the form, answer the new intent.
                answer.events += [ActiveLoop(name=None), *reset(form)]
                return False
            return await self._continue(form, state, answer)
        new_form = self.forms.get(f"{intent}_form")
        if new_form is None:
            return False
        answer.events.append(ActiveLoop(name=new_form.name))
        return await self._continue(new_form, state, answer)

    async def _continue(self, form: Form, state: DialogueState, answer: Answer) -> bool:
        """Ask for the first missing slot, or, with none missing, submit the form."""
        missing = [slot for slot in form.required_slots if state.slot(slot) is None]
        if missing:
            slot = missing[0]
            retry = state.requested_slot == slot
            prompt = self.answers.template(f"utter_ask_{slot}", state) or f"What {slot}?"
            if retry:
                invalid = self.answers.template(f"utter_invalid_{slot}", state)
                prompt = (invalid or "Sorry, I didn't get that.") + " " + prompt
            answer.events.append(SlotSet(name="requested_slot", value=slot))
            answer.say(prompt, "form")
            return True
        answer.events.append(ActiveLoop(name=None))
        submitted = form_intent(form)
        done = await self.answers.run_action(
            f"action_{submitted}", state, answer
        ) or self.answers.say_template(f"utter_{submitted}", state, answer)
        answer.events += reset(form)
        return done


def form_intent(form: Form) -> str:
    """The intent a form serves: `<intent>_form` -> `<intent>`."""
    return form.name.removesuffix("_form")


def digressed(state: DialogueState, form: Form) -> bool:
    """Whether the user has moved on from the active `form`: another intent (not out of scope)
    and no slot filled by the message."""
    intent = state.parse.intent.name
    if intent in (form_intent(form), "out_of_scope"):
        return False
    return not filled_this_turn(state)


def filled_this_turn(state: DialogueState) -> bool:
    """Whether the user's latest message set any slot (events after the last UserUttered)."""
    for event in reversed(state.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, SlotSet) and event.name != "requested_slot":
            return True
    return False


def reset(form: Form) -> list[Event]:
    """The events that clear a form's slots."""
    return [SlotSet(name=slot, value=None) for slot in form.required_slots]
