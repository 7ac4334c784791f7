"""Consent to conversation records: the editable, versioned policy wording, and who agreed.

`records.consent` is `ask` (people are asked once per wording version and recorded only after
a yes to the current one), `granted` (whoever runs the assistant has the users' consent, e.g.
a team testing it; each user's records say so) or `off` (nothing is recorded, nobody asked).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from assistant.learning.rows import ConsentAnswer, ConsentKind, ConsentRow

ConsentMode = Literal["ask", "granted", "off"]
MODES: tuple[ConsentMode, ...] = ("ask", "granted", "off")
MODE_ENV = "ASSISTANT_RECORDS_CONSENT"  # overrides the configured mode (tests, deployments)
REPLY_KEYS = (
    "granted", "declined", "withdrawn", "forgotten", "status_granted", "status_declined",
    "status_unasked", "status_off", "rated", "flagged", "not_recording", "nothing_to_rate",
)  # fmt: skip


def default_policy_path() -> Path:
    return Path(str(resources.files("assistant") / "policies" / "consent.yaml"))


class PolicyError(ValueError):
    """The policy file is unusable; the message names the file and the key."""


@dataclass(frozen=True)
class ConsentPolicy:
    version: int
    question: str
    audio_question: str
    replies: dict[str, str]

    @classmethod
    def load(cls, path: Path | None = None) -> ConsentPolicy:
        path = path or default_policy_path()
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise PolicyError(f"{path}: cannot read the consent policy: {exc}") from exc
        if not isinstance(data, dict):
            raise PolicyError(f"{path}: expected a mapping with version, question and replies")
        version, replies = data.get("version"), data.get("replies")
        if not isinstance(version, int) or version < 1:
            raise PolicyError(f"{path}: version: give a whole number >= 1 (raise it on edits)")
        for key in ("question", "audio_question"):
            if not isinstance(data.get(key), str) or not data[key].strip():
                raise PolicyError(f"{path}: {key}: give the words to say")
        if not isinstance(replies, dict):
            raise PolicyError(f"{path}: replies: expected a mapping of {', '.join(REPLY_KEYS)}")
        missing = [k for k in REPLY_KEYS if not isinstance(replies.get(k), str)]
        if missing:
            raise PolicyError(f"{path}: replies: missing {', '.join(missing)}")
        return cls(version, data["question"].strip(), data["audio_question"].strip(), replies)

    def wording(self, kind: ConsentKind) -> str:
        return self.question if kind == "records" else self.audio_question

    def reply(self, key: str, **values: object) -> str:
        return self.replies[key].format(**values).strip()


def configured_mode(mode: ConsentMode) -> ConsentMode:
    """The configured mode, unless $ASSISTANT_RECORDS_CONSENT says otherwise."""
    override = os.environ.get(MODE_ENV)
    if override is None:
        return mode
    if override not in MODES:
        raise PolicyError(f"${MODE_ENV}={override!r}: expected one of {', '.join(MODES)}")
    return override


def answer_counts(row: ConsentRow | None, policy: ConsentPolicy) -> ConsentAnswer | None:
    """The user's answer to the current wording (None: not asked it yet)."""
    if row is None or row.policy_version != policy.version:
        return None  # an answer to other words: new words are asked again
    return row.answer
