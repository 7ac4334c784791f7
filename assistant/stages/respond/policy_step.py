"""The chain's first step: the skills' rules and stories say which actions answer the turn.

The policy (`assistant.dialogue.policy`) predicts one action at a time from the conversation so
far, this turn's actions included, until it says to wait for the user, as Rasa does. Each action
runs here: a response (`utter_*`), a custom action the domain declares (`actions:`, run
in-process or on the action server), a form the domain declares (`forms:`), activated when a rule
or story runs it and continued while it is active, or one of Rasa's default actions. Everything
said is kept in order in the turn's `Answer`.

When no rule or story applies, nothing is done here and the rest of the chain answers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from assistant.dialogue.actions import ActionRunner
from assistant.dialogue.events import ActionExecuted, ActiveLoop, Restarted
from assistant.dialogue.policy import OUTSIDE_DIALOGUE, Policy
from assistant.dialogue.stories import ACTION_LISTEN
from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState
from assistant.skills.loader import Form
from assistant.stages.respond.answer import Answer, SkillAnswers
from assistant.stages.respond.forms import FormRun, Forms

log = logging.getLogger(__name__)

FALLBACK = "action_default_fallback"
MAX_ACTIONS = 10  # Rasa's max_number_of_predictions: a turn never runs away
IGNORED_DEFAULTS = frozenset({"action_session_start", "action_back", "action_two_stage_fallback"})


class PolicyStep:
    def __init__(
        self,
        policy: Policy,
        forms: Forms,
        answers: SkillAnswers,
        actions: ActionRunner,
        declared: Sequence[str] = (),
    ) -> None:
        self.policy = policy
        self.forms = forms
        self.answers = answers
        self.actions = actions
        self.declared = frozenset(declared)
        self._warned: set[str] = set()

    async def step(self, state: DialogueState, answer: Answer) -> bool:
        """Run the predicted actions; True when the turn is answered by them."""
        if state.parse.intent.name in OUTSIDE_DIALOGUE:
            return False  # said by the records' template, outside the rules and stories
        ran = False
        for _ in range(MAX_ACTIONS):
            action = self.policy.predict((*state.events, *answer.events))
            if action in (None, ACTION_LISTEN, FALLBACK):
                break  # the fallback is the chain's own (knowledge, generation, honest words)
            # False: a form was left for something else, which a rule may answer or the chain.
            ran = await self.run(action, state, answer) or ran
        else:
            log.warning("the rules and stories predicted %d actions in one turn", MAX_ACTIONS)
        return ran

    async def run(self, name: str, state: DialogueState, answer: Answer) -> bool:
        """Run one predicted action; False if the chain should answer instead."""
        if name in self.forms.forms:
            return await self._form(self.forms.forms[name], state, answer)
        if name.startswith("utter_"):
            if not self.answers.say_template(name, state, answer):
                self._warn(name, f"{name} is predicted but the domain has no such response")
                answer.events.append(ActionExecuted(name=name))
            return True
        if name in self.actions.names():
            await self.answers.run_action(name, state, answer)
            return True
        return self._default_action(name, answer)

    def _default_action(self, name: str, answer: Answer) -> bool:
        if name == "action_restart":
            answer.events += [ActionExecuted(name=name), Restarted()]
        elif name == "action_deactivate_loop":
            answer.events += [ActionExecuted(name=name), ActiveLoop(name=None)]
        elif name in self.declared:
            self._warn(name, f"action {name} is declared in the domain but no actions define it")
            answer.events.append(ActionExecuted(name=name))
            answer.say(self.answers.apology, "action-error")
        else:
            if name not in IGNORED_DEFAULTS:
                self._warn(name, f"action {name} is predicted but is not in the domain; skipped")
            answer.events.append(ActionExecuted(name=name))
        return True

    async def _form(self, form: Form, state: DialogueState, answer: Answer) -> bool:
        """A form runs: activated, continued with the user's answer, or resumed after a rule
        answered a question in the middle of it (`Forms.run` / `Forms.resume`)."""
        now = mid_turn(state, answer)
        if now.active_form != form.name:
            await self.forms.run(form.name, now, answer)  # activated by a rule or story
            return True
        if not _after_user(answer):
            await self.forms.resume(form.name, now, answer)  # after a rule's answer
            return True
        if now.parse.intent.name in self.forms.exit_intents:
            self.forms.cancel(form, now, answer)
            # Not completed: the rule that submits the form must not run.
            answer.events.append(ActionExecuted(name="action_deactivate_loop"))
            return True
        if await self.forms.run(form.name, now, answer) is not FormRun.REJECTED:
            return True  # asking, or done (the rules go on to submit it)
        if now.parse.intent.name == "out_of_scope":
            await self.forms.resume(form.name, now, answer)  # "didn't get that", and ask again
            return True
        # Left for another question that no rule about the form answers: the form is dropped
        # and the rest of the chain answers.
        answer.events.append(ActiveLoop(name=None))
        return False

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)


def _after_user(answer: Answer) -> bool:
    """Whether no action has run since the user's message (the form is to handle it)."""
    return not any(isinstance(e, ActionExecuted) for e in answer.events)


def mid_turn(state: DialogueState, answer: Answer) -> DialogueState:
    """The dialogue state with the turn's events so far applied (slots, the active form). The
    events stay those before the turn: the steps add `answer.events` themselves."""
    tracker = Tracker.from_events(state.session_id, (*state.events, *answer.events))
    return replace(
        state,
        slots=tuple(tracker.slots.items()),
        active_form=tracker.state.active_form,
        requested_slot=tracker.state.requested_slot,
    )
