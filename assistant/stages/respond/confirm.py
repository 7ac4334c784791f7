"""The chain's check before acting on words speech recognition was unsure of.

Whisper's "what is 12 times I did" for "what is twelve times nine" would be answered wrongly
with confidence. When a spoken request of one of `intents` (a calculation, a timer) was heard
with a confidence (`Parse.asr_confidence`, exp of the mean token log-probability) below
`threshold`, the responder asks "Did you say what is 12 times I did?" instead of acting, and
holds the request:
- "yes" (`affirm`) then runs it as heard: its user message and the slots it set go back into the
  tracker, so actions and forms see it as the latest request;
- "no" (`deny`) drops it: "Okay, please say it again.";
- anything else drops it and is a new request.
While held, the request leaves no slot behind (a timer's `duration` heard wrongly must not be
taken by the next "set a timer").

Never asked: typed turns (confidence 1.0), turns while a form is active (the form asked the
question being answered), reminders, and while a question of an earlier stage waits for its
yes or no (`Parse.question_waiting`: the records' consent; it takes precedence, as a yes would
otherwise answer both).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, Field

from assistant.dialogue.events import ActionExecuted, SlotSet, UserUttered
from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState
from assistant.nlu.results import entities_to_json
from assistant.stages.respond.answer import Answer
from assistant.stages.respond.forms import candidates_this_turn

log = logging.getLogger(__name__)

ASKED = "action_confirm_heard"  # the action the tracker records for the question


class ConfirmParams(BaseModel):
    intents: list[str] = Field(
        default_factory=lambda: ["calculate", "set_timer"],
        description="intents confirmed when speech recognition was unsure of the words",
    )
    threshold: float = Field(
        0.0, ge=0, le=1, description="ask when the transcript's confidence is below this"
    )
    question: str = Field("Did you say {heard}?", description="{heard}: the words as heard")
    again: str = Field("Okay, please say it again.", description="said after a no")


@dataclass
class Held:
    """A request waiting for its yes: its state, and the slot events its turn caused."""

    state: DialogueState
    slot_events: list[SlotSet] = field(default_factory=list)


class Confirmation:
    """Holds at most one unsure request per session, until the next turn."""

    def __init__(self, params: ConfirmParams) -> None:
        self.params = params
        self.held: dict[str, Held] = {}

    def forget(self, session_id: str) -> None:
        self.held.pop(session_id, None)

    def step(self, state: DialogueState, answer: Answer) -> DialogueState | None:
        """None when this turn is answered here (the question, or "say it again"); otherwise
        the state the rest of the chain answers: the turn's own, or the held request's once
        confirmed (its events are then the first of `answer`'s)."""
        if state.proactive:
            return state  # a reminder: a held request still waits for its answer
        held = self.held.pop(state.session_id, None)
        intent = state.parse.intent.name
        if held is not None and intent == "affirm":
            return self._confirmed(held, state, answer)
        if held is not None and intent == "deny":
            answer.events.append(ActionExecuted(name=ASKED))
            answer.say(self.params.again, "confirm")
            return None
        if not self.unsure(state):
            return state
        self.held[state.session_id] = Held(state, candidates_this_turn(state))
        answer.events += [ActionExecuted(name=ASKED), *undone_slots(state)]
        answer.say(self.params.question.format(heard=heard(state.parse.text)), "confirm")
        return None

    def unsure(self, state: DialogueState) -> bool:
        parse = state.parse
        return (
            parse.intent.name in self.params.intents
            and parse.asr_confidence < self.params.threshold
            and state.active_form is None
            and not parse.question_waiting
        )

    def _confirmed(self, held: Held, state: DialogueState, answer: Answer) -> DialogueState:
        parse = held.state.parse
        answer.events += [
            UserUttered(
                text=parse.text,
                intent=parse.intent.name,
                confidence=parse.intent.confidence,
                entities=entities_to_json(parse.entities),
            ),
            *held.slot_events,
        ]
        slots = dict(state.slots)
        slots.update({e.name: e.value for e in held.slot_events})
        log.debug("confirmed: %r", parse.text)
        return replace(
            state,
            parse=replace(parse, session_id=state.session_id, turn_id=state.turn_id),
            slots=tuple(slots.items()),
        )


def heard(text: str) -> str:
    """The words as heard, in a question: numbers as they were, no closing punctuation, the
    first letter in lower case (unless it is "I")."""
    words = text.strip().rstrip(".?!").strip()
    if words[:1].isupper() and not (words[:1] == "I" and words[1:2] in ("", " ", "'")):
        words = words[0].lower() + words[1:]
    return words


def undone_slots(state: DialogueState) -> list[SlotSet]:
    """Events that put back the slots the held turn set, as they were before it."""
    events = list(state.events)
    last_user = max(
        (i for i, e in enumerate(events) if isinstance(e, UserUttered)), default=len(events)
    )
    before = Tracker.from_events(state.session_id, events[:last_user]).state.slots
    return [SlotSet(name=e.name, value=before.get(e.name)) for e in candidates_this_turn(state)]
