"""The tone policy: which style a reply takes for how the user sounds, and what the style does.

It lives in a YAML file (`assistant/policies/tone.yaml` by default) so that wording, thresholds
and voice settings are edited there, not in code. The file is validated here with pydantic; any
mistake is one `ConfigError` line naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from assistant.core.config import load_yaml_model
from assistant.persona import Persona
from assistant.stages.tone.reply_kind import ReplyKind
from assistant.text.spoken import SpokenLength

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policies" / "tone.yaml"

Label = Literal["negative", "neutral", "positive"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(_Strict):
    """When a style applies. Every condition given must hold."""

    label: Label | None = None
    min_score: float | None = Field(None, ge=-1, le=1)
    max_score: float | None = Field(None, ge=-1, le=1)
    min_turns_in_a_row: int = Field(1, ge=1)  # turns with this label in a row, this one included

    @model_validator(mode="after")
    def _streak_needs_label(self) -> When:
        if self.min_turns_in_a_row > 1 and self.label is None:
            raise ValueError("min_turns_in_a_row needs a label (turns in a row of which label?)")
        return self


class Phrases(_Strict):
    """Something said before the reply, once per stretch of turns with the same label: the
    `phrases` given, or the persona's (`persona: cheerful` or `sympathetic`)."""

    phrases: list[str] | None = Field(None, min_length=1)
    persona: Literal["cheerful", "sympathetic"] | None = None
    skip_intents: list[str] = Field(default_factory=list)  # replies that already do it
    # Replies it would contradict ("Sure thing! Sorry, I don't know."): see `reply_kind`.
    skip_replies: list[ReplyKind] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> Phrases:
        if (self.phrases is None) == (self.persona is None):
            raise ValueError("give either phrases or persona (cheerful or sympathetic)")
        return self

    def words(self, persona: Persona) -> list[str]:
        if self.phrases is not None:
            return self.phrases
        return list(getattr(persona.style.phrases, self.persona or "cheerful"))


def _farewell() -> list[ReplyKind]:
    return ["farewell"]


class HelpOffer(_Strict):
    """Said after the reply, once per stretch: what the assistant can do."""

    text: str = Field(min_length=1)
    skip_intents: list[str] = Field(default_factory=list)
    # An offer of help after "Goodbye" would contradict it.
    skip_replies: list[ReplyKind] = Field(default_factory=_farewell)


class Shorten(_Strict):
    max_sentences: int = Field(ge=1)
    # A question at the end is what the user must answer next (a form asking "For how long?").
    keep_final_question: bool = True

    @property
    def length(self) -> SpokenLength:
        """The spoken length this rule allows: sentences only, kept whole however long."""
        return SpokenLength(self.max_sentences)


class ProsodyHints(_Strict):
    rate: float = Field(default=1.0, ge=0.5, le=1.5)
    sentence_pause_ms: int | None = Field(default=None, ge=0, le=3000)


class Style(_Strict):
    description: str = ""
    when: When | None = None  # None: used only as the policy's default style
    acknowledge: Phrases | None = None
    shorten: Shorten | None = None
    replace_intents: dict[str, str] = Field(default_factory=dict)  # intent -> reply instead
    offer_help: HelpOffer | None = None
    prosody: ProsodyHints = ProsodyHints()  # frozen: safe to share


class KeepText(_Strict):
    """Replies whose words the tone stage never changes; their tone and prosody are still set."""

    refusals: bool = True  # the input guard's refusals
    proactive: bool = True


class TonePolicy(_Strict):
    styles: dict[str, Style] = Field(min_length=1)  # in order: the first that matches wins
    default_style: str  # after `styles`, so that its check can see them
    keep_text: KeepText = Field(default_factory=KeepText)

    @field_validator("default_style")
    @classmethod
    def _default_exists(cls, name: str, info: ValidationInfo) -> str:
        styles = info.data.get("styles") or {}
        if styles and name not in styles:
            raise ValueError(f"{name!r} is not one of the styles ({', '.join(styles)})")
        return name


def load_policy(path: Path = DEFAULT_POLICY) -> TonePolicy:
    return load_yaml_model(path, TonePolicy)
