"""The learned skill folder's files: `nlu.yml`, the examples in Rasa's format (what the skills
loader reads), and `sources.json`, which users taught each example (by user key, the records'
HMAC), so that forgetting a user removes what was learnt from their words.

Lines someone added to nlu.yml by hand have no source and are kept as they are.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assistant.core.paths import default_cache_dir, write_whole
from assistant.learning.paths import has_learned_skill, learned_skill_dir

SOURCES_VERSION = 1

HEADER = """\
# Examples learnt by `assistant learn` from users' corrections and confirmed turns (anonymized;
# none with a pseudonym in it). A user skill folder that every pipeline's skills include: edit or
# delete lines freely, or delete the folder to forget everything learnt. sources.json says which
# users (by their records key) taught each line, for `assistant data forget`.
"""


class LearnedFolderError(ValueError):
    """The learned folder's files cannot be read; the message says which and what to do."""


@dataclass
class Learned:
    """The examples of a learned folder: lines per intent, and who taught each line."""

    lines: dict[str, list[str]] = field(default_factory=dict)
    users: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (intent, line)

    def add(self, intent: str, line: str, users: tuple[str, ...]) -> None:
        if line not in self.lines.setdefault(intent, []):
            self.lines[intent].append(line)
        self.users.setdefault((intent, line), set()).update(users)

    @property
    def count(self) -> int:
        return sum(len(lines) for lines in self.lines.values())


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LearnedFolderError(f"{path}: invalid YAML ({exc}); fix or delete it") from None


def read_learned(folder: Path) -> Learned:
    learned = Learned()
    if not has_learned_skill(folder):
        return learned
    data = _read_yaml(folder / "nlu.yml") or {}
    for entry in (data.get("nlu") if isinstance(data, dict) else None) or []:
        if isinstance(entry, dict) and "intent" in entry:
            block = str(entry.get("examples") or "")
            for raw in block.splitlines():
                if raw.strip().startswith("- "):
                    learned.add(str(entry["intent"]), raw.strip()[2:].strip(), ())
    sources = folder / "sources.json"
    if sources.is_file():
        try:
            for item in json.loads(sources.read_text(encoding="utf-8")).get("examples", []):
                key = (str(item["intent"]), str(item["example"]))
                if key in learned.users:  # a line deleted by hand stays deleted
                    learned.users[key].update(str(u) for u in item["users"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LearnedFolderError(f"{sources}: unreadable ({exc}); fix or delete it") from None
    return learned


def render_nlu(learned: Learned, note: str = "") -> str:
    parts = [HEADER, f"# {note}\n" if note else "", 'version: "3.1"\nnlu:\n']
    for intent in sorted(learned.lines):
        examples = "".join(f"    - {line}\n" for line in learned.lines[intent])
        parts.append(f"- intent: {intent}\n  examples: |\n{examples}")
    return "".join(parts)


def render_sources(learned: Learned) -> str:
    examples = [
        {"intent": intent, "example": line, "users": sorted(users)}
        for (intent, line), users in learned.users.items()
        if users
    ]
    return json.dumps({"version": SOURCES_VERSION, "examples": examples}, indent=1) + "\n"


def _writer(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return write


def write_learned(folder: Path, learned: Learned, note: str = "") -> None:
    """Write both files whole (each is replaced at once); an empty folder's files go."""
    if learned.count == 0:
        for name in ("nlu.yml", "sources.json"):
            (folder / name).unlink(missing_ok=True)
        return
    for name, text in (
        ("sources.json", render_sources(learned)),
        ("nlu.yml", render_nlu(learned, note)),
    ):
        if not write_whole(folder / name, _writer(text), what="learned examples"):
            raise LearnedFolderError(f"{folder / name}: cannot be written; check its permissions")


def forget_learned(user_key: str, folder: Path | None = None) -> int:
    """Remove the examples this user taught (also when others taught them too: their own
    corrections teach them again at the next `assistant learn`). The count removed."""
    folder = folder or learned_skill_dir()
    learned = read_learned(folder)
    taught = [key for key, users in learned.users.items() if user_key in users]
    for intent, line in taught:
        learned.lines[intent].remove(line)
        if not learned.lines[intent]:
            del learned.lines[intent]
        del learned.users[(intent, line)]
    if taught:
        write_learned(folder, learned, "some examples were removed when a user was forgotten")
    return len(taught)

LEARNED_CACHES = ("fitted", "embeddings")  # under the cache dir, see assistant.nlu


def clear_learned_caches() -> int:
    """Models fitted on learned examples keep their words (the embedding cache keeps texts, a
    CRF its features): drop those caches, rebuilt at the next start. The count of files."""
    removed = 0
    for name in LEARNED_CACHES:
        folder = default_cache_dir() / name
        if folder.is_dir():
            removed += sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
    return removed
