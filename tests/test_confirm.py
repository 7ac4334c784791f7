"""The responder's "did you say ...?" step (`assistant.stages.respond.confirm`) on dialogue states
as the tracker makes them: who is asked, what a yes, a no or anything else does."""

from __future__ import annotations

from assistant.dialogue.events import Event, SlotSet, UserUttered
from assistant.messages import DialogueState, Entity, IntentScore, Parse
from assistant.stages.respond.answer import Answer
from assistant.stages.respond.confirm import (
    ASKED,
    Confirmation,
    ConfirmParams,
    heard,
)

SESSION = "s1"


def state(
    text: str,
    intent: str,
    confidence: float,
    turn: int,
    events: tuple[Event, ...] = (),
    entities: tuple[Entity, ...] = (),
    question_waiting: bool = False,
    **fields: object,
) -> DialogueState:
    parse = Parse(
        session_id=SESSION, turn_id=turn, text=text,
        intent=IntentScore(name=intent, confidence=0.9), entities=entities,
        asr_confidence=confidence, question_waiting=question_waiting,
    )  # fmt: skip
    user = UserUttered(text=text, intent=intent)
    return DialogueState(
        session_id=SESSION, turn_id=turn, parse=parse, events=(*events, user), **fields
    )  # type: ignore[arg-type]


def confirmation(threshold: float = 0.8) -> Confirmation:
    return Confirmation(ConfirmParams(threshold=threshold))


def test_an_unsure_calculation_is_asked_about_and_a_yes_runs_it_as_heard() -> None:
    confirm, answer = confirmation(), Answer()
    asked = state("What is 12 times I did?", "calculate", 0.5, 1)
    assert confirm.step(asked, answer) is None
    assert answer.texts == ["Did you say what is 12 times I did?"]
    assert answer.source == "confirm"

    yes, answer = state("yes", "affirm", 0.9, 2), Answer()
    run = confirm.step(yes, answer)
    assert run is not None
    assert (run.parse.text, run.parse.intent.name, run.turn_id) == (
        "What is 12 times I did?", "calculate", 2,
    )  # fmt: skip
    # The request is the tracker's latest user message again, after the "yes".
    assert isinstance(answer.events[0], UserUttered)
    assert answer.events[0].text == "What is 12 times I did?" and not answer.texts
    assert confirm.step(state("yes", "affirm", 0.9, 3), Answer()) is not None  # nothing held


def test_a_no_asks_to_say_it_again_and_drops_the_request() -> None:
    confirm = confirmation()
    confirm.step(state("Set a timer for 50 minutes", "set_timer", 0.4, 1), Answer())
    answer = Answer()
    assert confirm.step(state("no", "deny", 0.9, 2), answer) is None
    assert answer.texts == ["Okay, please say it again."]
    later = state("yes", "affirm", 0.9, 3)
    assert confirm.step(later, Answer()) is later  # the request was dropped


def test_anything_else_is_a_new_request_and_drops_the_held_one() -> None:
    confirm = confirmation()
    confirm.step(state("What is 12 times I did?", "calculate", 0.5, 1), Answer())
    other = state("what time is it", "time", 0.95, 2)
    assert confirm.step(other, Answer()) is other
    yes = state("yes", "affirm", 0.9, 3)
    assert confirm.step(yes, Answer()) is yes


def test_typed_sure_and_other_requests_are_never_asked() -> None:
    confirm = confirmation(threshold=1.0)  # the highest threshold: every spoken one is unsure
    typed = state("what is 12 times 9", "calculate", 1.0, 1)
    assert confirm.step(typed, Answer()) is typed
    shopping = state("and coffee to my list", "add_to_list", 0.3, 2)
    assert confirm.step(shopping, Answer()) is shopping
    sure = state("what is 12 times 9", "calculate", 0.9, 3)
    assert confirmation(threshold=0.8).step(sure, Answer()) is sure


def test_not_asked_while_a_form_waits_or_the_records_question_does() -> None:
    confirm = confirmation()
    in_form = state("10 minutes", "set_timer", 0.3, 1, active_form="set_timer_form")
    assert confirm.step(in_form, Answer()) is in_form
    waiting = state("what is 2 plus 2", "calculate", 0.3, 2, question_waiting=True)
    assert confirm.step(waiting, Answer()) is waiting


def test_a_held_timer_leaves_no_duration_behind_until_confirmed() -> None:
    confirm, answer = confirmation(), Answer()
    before = (UserUttered(text="hi", intent="greet"), SlotSet(name="duration", value=60.0))
    asked = state("Set a timer for 15 minutes", "set_timer", 0.5, 1, before)
    asked = DialogueState(
        session_id=SESSION, turn_id=1, parse=asked.parse,
        events=(*asked.events, SlotSet(name="duration", value=900.0)),
        slots=(("duration", 900.0),),
    )  # fmt: skip
    assert confirm.step(asked, answer) is None
    undone = [e for e in answer.events if isinstance(e, SlotSet)]
    assert undone == [SlotSet(name="duration", value=60.0)]  # as it was before
    yes, answer = state("yes", "affirm", 0.9, 2, slots=(("duration", 60.0),)), Answer()
    run = confirm.step(yes, answer)
    assert run is not None and run.slot("duration") == 900.0
    assert SlotSet(name="duration", value=900.0) in answer.events
    assert ASKED not in [getattr(e, "name", "") for e in answer.events]


def test_the_words_are_said_back_as_heard() -> None:
    assert heard("What is 12 times I did?") == "what is 12 times I did"
    assert heard("I said 5 plus 4.") == "I said 5 plus 4"
    assert heard("I'm adding 2 and 2") == "I'm adding 2 and 2"
    assert heard("  Set a timer for ten minutes!") == "set a timer for ten minutes"
