"""Read skill folders written in Rasa's formats.

A skill folder is either the assistant's own layout (`nlu.yml`, `domain.yml`, `actions.py` at
the top) or a Rasa 3.x project as `rasa init` lays it out: `domain.yml` or a `domain/` folder,
`data/*.yml` with `nlu:`, `rules:` and `stories:`, an `actions/` package or `actions.py`,
`config.yml` and `endpoints.yml` (whose `action_endpoint` is honoured). Several skills merge into
one `SkillSet`, which the NLU, the tracker and the responder share; a user's skill wins over a
built-in one for an intent or a response of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from assistant.learning.paths import learned_skill_dir
from assistant.skills.domain import DomainData, Form, Slot, SlotMapping, domain_files, read_domain
from assistant.skills.errors import SkillError
from assistant.skills.nlu_data import EntitySpan, Example, NluData, parse_example
from assistant.skills.project import ProjectData, read_project
from assistant.skills.stories import Rule, Story

__all__ = [
    "EntitySpan",
    "Example",
    "Form",
    "Rule",
    "Skill",
    "SkillError",
    "SkillSet",
    "Slot",
    "SlotMapping",
    "Story",
    "is_skill_dir",
    "load_skill",
    "load_skills",
    "parse_example",
]

BUILTIN_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Skill:
    name: str
    path: Path
    examples: tuple[Example, ...] = ()
    regexes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lookups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)  # spoken variant -> canonical value
    responses: dict[str, tuple[str, ...]] = field(default_factory=dict)  # text variations
    # Every variation as written (text, condition, buttons, image, custom, channel).
    response_variants: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    forms: dict[str, Form] = field(default_factory=dict)
    intents: tuple[str, ...] = ()  # the domain's `intents:`
    entities: tuple[str, ...] = ()  # the domain's `entities:`
    actions: tuple[str, ...] = ()  # the domain's `actions:` (custom action names)
    rules: tuple[Rule, ...] = ()
    stories: tuple[Story, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)  # config.yml as written
    action_endpoint: str | None = None  # endpoints.yml's action_endpoint url

    @property
    def actions_module(self) -> Path | None:
        """`actions.py`, or an `actions/` package folder (all its modules are imported)."""
        for path in (self.path / "actions.py", self.path / "actions"):
            if path.is_file() or (path / "__init__.py").is_file():
                return path
        return None

    @property
    def builtin(self) -> bool:
        return self.path.resolve().parent == BUILTIN_DIR

    @property
    def user(self) -> bool:
        """A skill the user brought (not built in, not the examples `assistant learn` kept)."""
        return not self.builtin and self.path.resolve() != learned_skill_dir().resolve()


@dataclass(frozen=True)
class SkillSet:
    skills: tuple[Skill, ...]

    @property
    def examples(self) -> tuple[Example, ...]:
        """All examples, except a built-in skill's examples of an intent a user's skill defines,
        or with a text a user's skill labels (its own intent for that sentence wins)."""
        user = [s for s in self.skills if s.user]
        intents = {e.intent for s in user for e in s.examples}
        texts = {e.text.lower() for s in user for e in s.examples}
        return tuple(
            e
            for s in self.skills
            for e in s.examples
            if not (s.builtin and (e.intent in intents or e.text.lower() in texts))
        )

    @property
    def intents(self) -> tuple[str, ...]:
        declared = (i for s in self.skills for i in s.intents)
        return tuple(dict.fromkeys([*(e.intent for e in self.examples), *declared]))

    @property
    def responses(self) -> dict[str, tuple[str, ...]]:
        """Later skills override earlier ones' responses of the same name (personas); a user's
        skill overrides a built-in one wherever it comes."""
        return self._merged("responses")

    @property
    def response_variants(self) -> dict[str, tuple[dict[str, Any], ...]]:
        return self._merged("response_variants")

    def _merged(self, name: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for skill in sorted(self.skills, key=lambda s: s.user):  # stable: user skills last
            merged.update(getattr(skill, name))
        return merged

    @property
    def slots(self) -> dict[str, Slot]:
        return self._merged("slots")

    @property
    def forms(self) -> dict[str, Form]:
        return self._merged("forms")

    @property
    def regexes(self) -> dict[str, tuple[str, ...]]:
        return self._merged("regexes")

    @property
    def lookups(self) -> dict[str, tuple[str, ...]]:
        return self._merged("lookups")

    @property
    def synonyms(self) -> dict[str, str]:
        return self._merged("synonyms")

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for s in self.skills for a in s.actions))

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for s in self.skills for r in s.rules)

    @property
    def stories(self) -> tuple[Story, ...]:
        return tuple(t for s in self.skills for t in s.stories)

    @property
    def action_endpoint(self) -> str | None:
        """The first `action_endpoint` a skill's endpoints.yml names."""
        return next((s.action_endpoint for s in self.skills if s.action_endpoint), None)


def load_skill(path: Path) -> Skill:
    domain = DomainData()
    for file in domain_files(path):
        read_domain(file, domain)
    nlu = NluData([], {}, {}, {})
    project = ProjectData()
    read_project(path, nlu, project)
    return Skill(
        name=path.name,
        path=path,
        examples=tuple(nlu.examples),
        regexes=nlu.regexes,
        lookups=nlu.lookups,
        synonyms=nlu.synonyms,
        responses=domain.responses,
        response_variants=domain.response_variants,
        slots=domain.slots,
        forms=domain.forms,
        intents=tuple(dict.fromkeys(domain.intents)),
        entities=tuple(dict.fromkeys(domain.entities)),
        actions=tuple(dict.fromkeys(domain.actions)),
        rules=tuple(project.rules),
        stories=tuple(project.stories),
        config=project.config,
        action_endpoint=project.action_endpoint,
    )


def is_skill_dir(path: Path) -> bool:
    return (path / "nlu.yml").is_file() or bool(domain_files(path))


@cache
def load_skills(paths: tuple[Path, ...]) -> SkillSet:
    """Load skill folders once per process (the NLU and the responder share them)."""
    return SkillSet(tuple(load_skill(p) for p in _expand(paths)))


def _expand(paths: Iterable[Path]) -> list[Path]:
    """A path is a skill folder, or a folder whose subfolders are skills."""
    found: list[Path] = []
    for path in paths:
        if is_skill_dir(path):
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if is_skill_dir(p)))
        else:
            raise SkillError(
                f"{path}: not a skill folder (expected a Rasa project with domain.yml or a "
                "domain/ folder, or nlu.yml)"
            )
    return found
