"""Where learning keeps what it makes: the user skill folder of learned examples.

Kept under the XDG state folder (not the cache: it is the user's data, made from their
corrections), apart from the built-in skills, which are never edited.
"""

from __future__ import annotations

from pathlib import Path

from assistant.core.paths import default_state_dir


def learned_skill_dir() -> Path:
    """The skill folder `assistant learn` writes (`nlu.yml` in Rasa's format)."""
    return default_state_dir() / "skills" / "learned"


def has_learned_skill(path: Path | None = None) -> bool:
    return ((path or learned_skill_dir()) / "nlu.yml").is_file()
