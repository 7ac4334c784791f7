"""The `DialogueState` a tracker stage would publish, for tests that drive the responder
without a bus."""

from __future__ import annotations

from assistant.dialogue.tracker import Tracker
from assistant.messages import DialogueState, Parse


def dialogue_state(
    tracker: Tracker, parse: Parse, turn: int, *, applied: bool = False
) -> DialogueState:
    """`applied`: the events since the last restart (what the stage sends), else all of them."""
    state = tracker.state
    return DialogueState(
        session_id="chat",
        turn_id=turn,
        parse=parse,
        slots=tuple(state.slots.items()),
        active_form=state.active_form,
        requested_slot=state.requested_slot,
        events=tuple(tracker.applied_events if applied else tracker.events),
    )
