"""Answer from the skills' `utter_<intent>` response templates (Rasa's domain `responses:`).

Variations are picked by `ResponsePicker` (random, never the same twice in a row), their
`{assistant_name}`-style placeholders filled from the persona. An intent with no template gets an
honest fallback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from assistant.core.stage import Stage, StageParams
from assistant.dialogue.responses import ResponsePicker
from assistant.messages import DialogueState, Message, Parse, Reply, SessionStart
from assistant.persona import load_persona, persona_param
from assistant.skills.loader import load_skills


class TemplateParams(StageParams):
    fallback: str = Field(
        "Sorry, I can't help with that yet.",
        description="said when no template exists for the intent",
    )
    seed: int | None = Field(None, description="fix the choice of variations (tests, demos)")
    persona: Path | None = persona_param()


class TemplateResponder(Stage):
    kind: ClassVar[str] = "respond"
    backend: ClassVar[str] = "templates"
    description: ClassVar[str] = "utter_<intent> templates from the skills' domain.yml"
    consumes = (DialogueState, Parse)
    produces = (Reply,)
    Params: ClassVar[type[StageParams]] = TemplateParams
    params: TemplateParams

    def load(self) -> None:
        self.picker = ResponsePicker(
            load_skills(self.context.skill_dirs).responses,
            self.params.seed,
            defaults=load_persona(self.params.persona).template_values(),
        )

    async def control(self, message: Message) -> None:
        if isinstance(message, SessionStart):
            self.picker.forget(message.session_id)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        parse = message.parse if isinstance(message, DialogueState) else message
        assert isinstance(parse, Parse)
        intent = parse.intent.name
        text = self.picker.choose(message.session_id, f"utter_{intent}")
        yield Reply(
            session_id=message.session_id,
            turn_id=message.turn_id,
            text=text if text is not None else self.params.fallback,
            intent=intent,
            source="template" if text is not None else "fallback",
        )
