"""A `respond` backend that says what the assistant understood instead of answering.

Put it in place of the templates responder while writing a skill: every turn comes back as one
or two spoken sentences naming the intent, how sure the NLU was, which intents came next and
which entities it found, so a wrong answer can be traced to the NLU without reading JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import ClassVar

from pydantic import Field

from assistant.core.stage import Stage, StageParams
from assistant.messages import DialogueState, Entity, IntentScore, Message, Parse, Reply

# The name the classifier gives an utterance it rejects (assistant.stages.nlu.classifier); kept
# as a literal so the plugin depends only on the stable message types, not on NLU internals.
OUT_OF_SCOPE = "out_of_scope"


class ExplainParams(StageParams):
    show_alternatives: int = Field(
        2, ge=0, description="how many runner-up intents from the ranking to name"
    )
    min_alternative_confidence: float = Field(
        0.01, ge=0, le=1, description="runner-ups less likely than this are not worth saying"
    )


def spoken_name(intent: str) -> str:
    """`tell_joke` -> `tell joke`: a speech synthesizer would spell out the underscore."""
    return intent.replace("_", " ")


def percent(confidence: float) -> str:
    value = round(confidence * 100)
    return "under 1 percent" if value == 0 and confidence > 0 else f"{value} percent"


def join(items: Sequence[str]) -> str:
    """English list: `a`, `a and b`, `a, b and c`."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def describe_entity(entity: Entity) -> str:
    said = f'{entity.entity} "{entity.text}"'
    # A synonym or normalizer changed the value: that mapping is what a skill author checks.
    return said if str(entity.value) == entity.text else f"{said} meaning {entity.value}"


def explain(parse: Parse, show_alternatives: int, min_confidence: float) -> str:
    """The explanation of one parse (pure, so it is easy to test without a pipeline)."""
    intent = parse.intent
    rejected = intent.name == OUT_OF_SCOPE
    # When rejected, the ranking still holds the real intents: the best one is the near miss.
    candidates: list[IntentScore] = [r for r in parse.ranking if r.name != intent.name]
    if rejected and candidates:
        closest, candidates = candidates[0], candidates[1:]
        first = (f"I treated that as out of scope; the closest intent was "
                 f"{spoken_name(closest.name)} at {percent(closest.confidence)}")
    elif rejected:
        first = "I treated that as out of scope"
    else:
        first = f"I understood {spoken_name(intent.name)}, {percent(intent.confidence)} sure"
    others = [f"{spoken_name(r.name)} at {percent(r.confidence)}"
              for r in candidates[:show_alternatives] if r.confidence >= min_confidence]
    if others and rejected:
        first += f", then {join(others)}"
    elif others:
        first += f"; the runner-up{' was' if len(others) == 1 else 's were'} {join(others)}"
    elif show_alternatives and not rejected:
        first += "; no other intent came close"
    entities = [describe_entity(e) for e in parse.entities]
    second = f"I found {join(entities)}." if entities else "I found no entities."
    return f"{first}. {second}"


class ExplainResponder(Stage):
    """Registered through the `assistant.stages` entry point of this distribution."""

    kind: ClassVar[str] = "respond"
    backend: ClassVar[str] = "explain"
    description: ClassVar[str] = "says the intent, confidence, runner-ups and entities it got"
    consumes = (DialogueState, Parse)
    produces = (Reply,)
    Params: ClassVar[type[StageParams]] = ExplainParams
    params: ExplainParams

    async def process(self, message: Message) -> AsyncIterator[Message]:
        # With a dialogue tracker in the pipeline the parse arrives wrapped in its state.
        parse = message.parse if isinstance(message, DialogueState) else message
        if not isinstance(parse, Parse):
            raise TypeError(f"explain consumes Parse or DialogueState, got {type(message)}")
        yield Reply(
            session_id=message.session_id,
            turn_id=message.turn_id,
            text=explain(parse, self.params.show_alternatives,
                         self.params.min_alternative_confidence),
            intent=parse.intent.name,
            source="explain",
        )
