"""The assistant's persona (`assistant/policies/persona.yaml`): its name, what it says it is, who
made it, how it talks and the voice it speaks with.

It is the one source for everything that speaks about the assistant: response templates fill
`{assistant_name}`, `{assistant_description}` and `{assistant_maker}` from it (`template_values`),
the language model's prompt names and describes it, the tone policy takes its cheerful and
sympathetic words from it, and a speech stage whose model names no voice uses its voice.

A pipeline chooses one with `persona: PATH` (or `--set persona=PATH`); the planner hands the path
to every stage that has a `persona` parameter (`assistant.pipeline`). A plain library: no
messages, bus or stages.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.core.errors import ConfigError

DEFAULT_PERSONA = Path(__file__).resolve().parent / "policies" / "persona.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Phrases(_Strict):
    """Words the tone policy puts before a reply (`acknowledge: {persona: cheerful}`)."""

    cheerful: list[str] = Field(min_length=1)
    sympathetic: list[str] = Field(min_length=1)


class PersonaStyle(_Strict):
    traits: list[str] = Field(min_length=1)  # "friendly", "concise", ...
    phrases: Phrases


class Voices(_Strict):
    """The voice id of each speech backend (a packaged Piper voice, an eSpeak NG voice)."""

    piper: str = "joe"
    espeak: str = "en-us"


class Persona(_Strict):
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)  # completes "I'm {name}, ..."
    maker: str = Field(min_length=1)  # completes "I was made by ..."
    style: PersonaStyle
    voice: Voices = Voices()  # frozen: safe to share

    def template_values(self) -> dict[str, str]:
        """The placeholders every response template may use."""
        return {
            "assistant_name": self.name,
            "assistant_description": self.description,
            "assistant_maker": self.maker,
        }

    def traits_text(self) -> str:
        """The style traits as words: "friendly, calm and concise"."""
        traits = self.style.traits
        return traits[0] if len(traits) == 1 else f"{', '.join(traits[:-1])} and {traits[-1]}"

    def voice_for(self, backend: str) -> str:
        """The persona's voice id for a speech backend ("piper", "espeak")."""
        voice: str = getattr(self.voice, backend)
        return voice


def resolve_persona(value: str | Path | None, base: Path | None = None) -> Path:
    """Where a persona file is: None or "default" is the shipped one; a relative path is taken
    from `base` (the pipeline file's folder) or else the current folder."""
    if value is None or str(value) == "default":
        return DEFAULT_PERSONA
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else base / path


def persona_param() -> Any:
    """The `persona` parameter of a stage that speaks about or as the assistant."""
    return Field(
        None,
        description="a persona file; default: the pipeline's (`persona:`, else the shipped "
        "assistant/policies/persona.yaml)",
    )


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> Persona:
    # Read here rather than with `assistant.core.config`, which brings the stage machinery: the
    # language model's prompt (a plain library) reads the persona too.
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the persona ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(Persona.model_fields)}")
    try:
        return Persona(**raw)
    except ValidationError as exc:
        # An unknown key first: a typo also makes the intended key look missing.
        first = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        key = ".".join(str(part) for part in first["loc"])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown key"
            if len(first["loc"]) == 1:
                message += f" (expected one of: {', '.join(Persona.model_fields)})"
        raise ConfigError(f"{path}: {key}: {message}") from None


def load_persona(path: Path | None = None) -> Persona:
    """The persona in `path` (default: the shipped one), read once per version of the file;
    a mistake is one `ConfigError` line naming the file and the key."""
    path = (path or DEFAULT_PERSONA).resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = -1  # `_load` says what is wrong with the path
    return _load(path, mtime)
