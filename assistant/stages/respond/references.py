"""What a turn refers to, resolved against the dialogue state before the chain answers.

"Cancel it" is understood as `stop`, which ends an active form; with no form asking and a timer
running, "it" is the timer: the turn becomes `cancel_timer`, whose action cancels the one timer
or asks which of several; "never mind" right after that question is not asked again.
"""

from __future__ import annotations

from dataclasses import replace

from assistant.dialogue.events import ActionExecuted
from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState, IntentScore

STOP, CANCEL_TIMER, TIMER_DONE = "stop", "cancel_timer", "timer_done"


def resolved(state: DialogueState) -> DialogueState:
    if state.parse.intent.name != STOP or state.active_form is not None or state.proactive:
        return state
    actions = [e.name for e in state.events if isinstance(e, ActionExecuted)]
    if actions and actions[-1] == f"action_{CANCEL_TIMER}":
        return state  # the answer to "which one should I cancel?": let it go
    reminders = Tracker.from_events(state.session_id, state.events).state.reminders
    if not any(r.intent == TIMER_DONE for r in reminders.values()):
        return state
    intent = IntentScore(name=CANCEL_TIMER, confidence=state.parse.intent.confidence)
    return replace(state, parse=replace(state.parse, intent=intent))
