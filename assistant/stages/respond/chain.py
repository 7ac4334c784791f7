"""The response chain: forms, custom actions, templates, knowledge, generation, fallback.

For each dialogue state the chain tries its steps in the configured order until one answers;
the last resort is an honest "I can't help with that yet", so a reply is never empty. What the
chain did (actions run, slots set, the form asked for, what it said) goes back to the tracker as
one `DialogueUpdate`, published before the `Reply`.

Conventions, as in Rasa: a form named `<intent>_form` starts when its intent is predicted and asks
for each missing required slot with `utter_ask_<slot>`; when all are filled it runs
`action_<intent>` (or says `utter_<intent>`). A custom action named `action_<intent>` answers its
intent; otherwise the template `utter_<intent>` does.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field

from assistant.dialogue.actions import (
    ActionError,
    ActionResult,
    ActionRunner,
    HttpActions,
    InProcessActions,
    domain_json,
    import_actions_module,
)
from assistant.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    SlotSet,
    UserUttered,
)
from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState, DialogueUpdate, Message, Reply
from assistant.skills.loader import Form, SkillSet, load_skills
from assistant.stage import Stage, StageParams, register

log = logging.getLogger(__name__)

Step = Literal["forms", "actions", "templates", "knowledge", "generation"]
ALL_STEPS: tuple[Step, ...] = ("forms", "actions", "templates", "knowledge", "generation")


class ChainParams(StageParams):
    order: list[Step] = Field(
        default_factory=lambda: list(ALL_STEPS),
        description="the steps tried for each turn, in order",
    )
    action_endpoint: str | None = Field(
        None, description="a rasa-sdk action server URL; default: run actions in-process"
    )
    action_timeout_s: float = Field(5.0, gt=0, description="an action slower than this fails")
    exit_intents: list[str] = Field(
        default_factory=lambda: ["stop"], description="intents that cancel an active form"
    )
    fallback: str = Field(
        "Sorry, I can't help with that yet. Say help to hear what I can do.",
        description="said when no step answers",
    )
    action_apology: str = Field(
        "Sorry, I couldn't do that just now. Please try again.",
        description="said when a custom action fails or times out",
    )
    seed: int | None = Field(None, description="fix the choice of template variations")


@dataclass
class Answer:
    """What one turn's steps produced so far."""

    texts: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    source: str = ""

    def say(self, text: str, source: str) -> None:
        self.texts.append(text)
        self.events.append(BotUttered(text=text))
        self.source = self.source or source


class _Slots(dict[str, Any]):
    """Template values: a missing slot reads as an empty string, not a KeyError."""

    def __missing__(self, key: str) -> str:
        return ""


@register
class ChainResponder(Stage):
    kind: ClassVar[str] = "respond"
    backend: ClassVar[str] = "chain"
    description: ClassVar[str] = "forms, rasa-sdk actions, templates, knowledge, generation"
    consumes = (DialogueState,)
    produces = (Reply, DialogueUpdate)
    Params: ClassVar[type[StageParams]] = ChainParams
    params: ChainParams

    def load(self) -> None:
        self.skills: SkillSet = load_skills(self.context.skill_dirs)
        self.domain = domain_json(self.skills)
        self.random = random.Random(self.params.seed)
        self.actions: ActionRunner = self._action_runner()

    def _action_runner(self) -> ActionRunner:
        if self.params.action_endpoint:
            return HttpActions(self.params.action_endpoint, self.params.action_timeout_s)
        modules = [
            import_actions_module(skill.actions_module, f"assistant_skill_actions.{skill.name}")
            for skill in self.skills.skills
            if skill.actions_module is not None
        ]
        return InProcessActions(modules, self.params.action_timeout_s)

    async def start(self) -> None:
        await super().start()
        if isinstance(self.actions, HttpActions):
            await self.actions.connect()

    async def stop(self) -> None:
        actions = getattr(self, "actions", None)
        if isinstance(actions, HttpActions):
            await actions.close()
        await super().stop()

    # --- the chain -------------------------------------------------------------------------------

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, DialogueState)
        answer = Answer()
        steps = {
            "forms": self._forms,
            "actions": self._actions,
            "templates": self._templates,
        }
        for name in self.params.order:
            step = steps.get(name)
            if step is not None and await step(message, answer):
                break
        if not answer.texts:
            answer.say(self.params.fallback, "fallback")
        yield DialogueUpdate(
            session_id=message.session_id, turn_id=message.turn_id, events=tuple(answer.events)
        )
        yield Reply(
            session_id=message.session_id,
            turn_id=message.turn_id,
            text=" ".join(answer.texts),
            intent=message.parse.intent.name,
            source=answer.source,
            proactive=message.proactive,
        )

    # --- steps: each returns True when the turn is answered ---------------------------------------

    async def _forms(self, state: DialogueState, answer: Answer) -> bool:
        intent = state.parse.intent.name
        forms = self.skills.forms
        if state.active_form is not None and state.active_form in forms:
            form = forms[state.active_form]
            if intent in self.params.exit_intents:
                answer.events += [ActiveLoop(name=None), *self._reset(form)]
                answer.say(
                    self.template("utter_form_cancelled", state) or "Okay, cancelled.", "form"
                )
                return True
            if self._digressed(state, form):
                # The user moved on to something else: drop the form, answer the new intent.
                answer.events += [ActiveLoop(name=None), *self._reset(form)]
                return False
            return await self._continue_form(form, state, answer)
        new_form = forms.get(f"{intent}_form")
        if new_form is None:
            return False
        answer.events.append(ActiveLoop(name=new_form.name))
        return await self._continue_form(new_form, state, answer)

    def _digressed(self, state: DialogueState, form: Form) -> bool:
        intent = state.parse.intent.name
        if intent in (form_intent(form), "out_of_scope"):
            return False
        return not filled_this_turn(state)

    async def _continue_form(self, form: Form, state: DialogueState, answer: Answer) -> bool:
        missing = [slot for slot in form.required_slots if state.slot(slot) is None]
        if missing:
            slot = missing[0]
            retry = state.requested_slot == slot
            prompt = self.template(f"utter_ask_{slot}", state) or f"What {slot}?"
            if retry:
                prompt = (
                    (self.template(f"utter_invalid_{slot}", state) or "Sorry, I didn't get that.")
                    + " "
                    + prompt
                )
            answer.events.append(SlotSet(name="requested_slot", value=slot))
            answer.say(prompt, "form")
            return True
        answer.events.append(ActiveLoop(name=None))
        submitted = form_intent(form)
        done = await self._run_action(f"action_{submitted}", state, answer) or self._say_template(
            f"utter_{submitted}", state, answer
        )
        answer.events += self._reset(form)
        return done

    def _reset(self, form: Form) -> list[Event]:
        return [SlotSet(name=slot, value=None) for slot in form.required_slots]

    async def _actions(self, state: DialogueState, answer: Answer) -> bool:
        return await self._run_action(f"action_{state.parse.intent.name}", state, answer)

    async def _templates(self, state: DialogueState, answer: Answer) -> bool:
        return self._say_template(f"utter_{state.parse.intent.name}", state, answer)

    # --- helpers -----------------------------------------------------------------------------

    async def _run_action(self, name: str, state: DialogueState, answer: Answer) -> bool:
        if name not in self.actions.names():
            return False
        tracker = Tracker.from_events(state.session_id, (*state.events, *answer.events))
        try:
            result = await self.actions.run(name, tracker.to_rasa_json(), self.domain)
        except ActionError as exc:
            log.warning("%s", exc)
            answer.events.append(ActionExecuted(name=name))
            answer.say(self.params.action_apology, "action-error")
            return True
        answer.events += [ActionExecuted(name=name), *result.events]
        for text in self._texts(result, state, answer):
            answer.say(text, "action")
        return bool(answer.texts)

    def _texts(self, result: ActionResult, state: DialogueState, answer: Answer) -> list[str]:
        texts = list(result.texts)
        for template in result.templates:
            text = self.template(template, state, answer.events)
            if text:
                texts.append(text)
        return texts

    def _say_template(self, name: str, state: DialogueState, answer: Answer) -> bool:
        text = self.template(name, state, answer.events)
        if text is None:
            return False
        answer.events.append(ActionExecuted(name=name))
        answer.say(text, "template")
        return True

    def template(
        self, name: str, state: DialogueState, pending: list[Event] | None = None
    ) -> str | None:
        """A random variation of a response, with `{slot}` placeholders filled from the slots
        (including those the turn has just set) and the turn's entities."""
        variations = self.skills.responses.get(name)
        if not variations:
            return None
        values = _Slots(slot_values(state, pending or []))
        return self.random.choice(variations).format_map(values).strip()


def form_intent(form: Form) -> str:
    return form.name.removesuffix("_form")


def filled_this_turn(state: DialogueState) -> bool:
    """Whether the user's latest message set any slot (events after the last UserUttered)."""
    for event in reversed(state.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, SlotSet) and event.name != "requested_slot":
            return True
    return False


def slot_values(state: DialogueState, pending: list[Event]) -> Mapping[str, Any]:
    values: dict[str, Any] = {e.entity: e.value for e in state.parse.entities}
    values.update(dict(state.slots))
    for event in pending:
        if isinstance(event, SlotSet):
            values[event.name] = event.value
    return values
