"""The dataset card (README.md) of an export: what it holds, what was left out and why, on what
consent, over which dates. It names no user and quotes no text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from assistant.learning.rows import ConsentRow

FORMAT_NAMES = {
    "sft": "supervised fine-tuning conversations (TRL conversational language modeling)",
    "kto": "rated replies (TRL conversational unpaired preference, for KTO)",
    "dpo": "preference pairs (TRL conversational preference, for DPO)",
    "rasa-nlu": "corrected utterances with their intents (Rasa NLU training data)",
}

LEFT_OUT = (
    ("left_out_not_consented", "turns of users who declined or withdrew consent"),
    ("left_out_flagged", "turns of conversations a user flagged"),
    ("left_out_records_talk", "turns about the records (consent answers, ratings by command)"),
    ("left_out_safety", "turns where the guard or the reply filter fired"),
    ("duplicate_rows", "turns recorded twice (the last copy kept)"),
    ("left_out_rated_bad", "turns rated bad or corrected (not imitated in SFT)"),
    ("bad_without_alternative", "bad replies with no corrected or well-rated alternative"),
    ("left_out_pseudonym", "corrected utterances holding a pseudonym such as <PERSON_1>"),
    ("duplicate_lines", "repeated examples (one kept)"),
)


@dataclass(frozen=True)
class CardFacts:
    fmt: str
    files: dict[str, int]  # file name -> lines (examples)
    counts: dict[str, int]
    include_safety: bool
    consent: list[str]  # lines of the consent basis
    first: float | None  # the earliest and the latest exported turn (unix time)
    last: float | None
    made: float


def consent_basis(
    users: Iterable[str], consent: Callable[[str], ConsentRow | None] | None
) -> list[str]:
    """How many exported users consented, and how: answering under which policy version, or
    by the configuration (`records.consent: granted`, no answer stored)."""
    if consent is None:
        return ["Not checked at export: the record store keeps only turns of users who consented."]
    versions: Counter[int] = Counter()
    configured = 0
    for user in users:
        answer = consent(user)
        if answer is None:
            configured += 1
        elif answer.answer == "granted":
            versions[answer.policy_version] += 1
    lines = [
        f"{_users(count)} granted consent to records under policy version {version}."
        for version, count in sorted(versions.items())
    ]
    if configured:
        lines.append(
            f"{_users(configured)} recorded with consent granted by the configuration "
            "(`records.consent: granted`), never asked."
        )
    return lines or ["No user's turns are exported."]


def _users(count: int) -> str:
    return f"{count} user{'s' if count != 1 else ''}"


def dataset_card(facts: CardFacts) -> str:
    c = facts.counts
    data_files = "\n".join(f"      - {name}" for name in facts.files if name.endswith(".jsonl"))
    lines = [
        "---",
        "language:",
        "- en",
        "configs:",
        "  - config_name: default",
        "    data_files:",
        data_files,
        "---",
        "",
        f"# Assistant conversations: {facts.fmt} export",
        "",
        f"{FORMAT_NAMES[facts.fmt].capitalize()}, made {_day(facts.made)} from the "
        "assistant's consented, anonymized conversation records.",
        "",
        "## Files",
        "",
        *(f"- `{name}`: {count} example{'s' if count != 1 else ''}"
          for name, count in facts.files.items()),
        "",
        "## Contents",
        "",
        f"- {c.get('conversations', 0)} conversations, {c.get('turns', 0)} turns taken "
        f"(of {c.get('rows_in', 0)} recorded turns and {c.get('feedback_in', 0)} ratings, "
        "flags and corrections)",
        f"- dates: {_dates(facts.first, facts.last)}",
        "",
        "## Left out",
        "",
        *(f"- {what}: {c.get(key, 0)}" for key, what in LEFT_OUT if c.get(key, 0)),
        *(["- nothing"] if not any(c.get(key, 0) for key, _ in LEFT_OUT) else []),
        "",
        "## Safety",
        "",
        _safety_line(facts),
        "",
        "## Personal data",
        "",
        "Names, places, phone numbers, e-mail and IP addresses, card and bank account numbers "
        "and id numbers were replaced by pseudonyms (`<PERSON_1>`, `<PHONE_NUMBER_1>`, ...) "
        "numbered per conversation when the turns were recorded. Every exported text was "
        "scanned again at export; personal data found and replaced then: "
        f"{c.get('pseudonymized_again', 0)}.",
        "",
        "## Consent",
        "",
        *(f"- {line}" for line in facts.consent),
        "",
    ]  # fmt: skip
    return "\n".join(lines)


def _safety_line(facts: CardFacts) -> str:
    if facts.include_safety:
        return (
            "Turns where the guard or the reply filter fired are included and labelled "
            "(`safety_fired`, `safety_rules` on each line): "
            f"{facts.counts.get('safety_labelled', 0)}."
        )
    return "Turns where the guard or the reply filter fired are left out."


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def _dates(first: float | None, last: float | None) -> str:
    if first is None or last is None:
        return "none (no turns exported)"
    return f"{_day(first)} to {_day(last)} (UTC)"
