"""Training data from the records: SFT conversations, KTO ratings, DPO preference pairs and Rasa
NLU examples of corrected utterances, with a dataset card.

`export(turns, feedback, fmt, out_dir)` leaves out conversations a user flagged, turns where the
guard or the reply filter fired (unless `include_safety`: then they are kept and labelled),
repeated rows and repeated lines, turns of the memory skill (what a user asked to be
remembered is theirs alone) and, given the store's `consent`, users who declined or withdrew.
Every exported text is scanned for personal data once more, whatever the keeper did when it
wrote the record: anything found becomes a pseudonym of its conversation.

The formats and their files are described in `formats.py`.

Every line of a data file is one example, so the store can remove a forgotten user's lines:
`ExportResult.manifest` says, for each file, which lines came from which user.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.learning.anonymize import Pseudonymizer
from assistant.learning.card import CardFacts, consent_basis, dataset_card
from assistant.learning.formats import (
    BUILDERS,
    NOTHING,
    Line,
    Turn,
    jsonl_lines,
    nlu_yml_lines,
)
from assistant.learning.rows import ConsentRow, FeedbackRow, TurnRow
from assistant.memory import MEMORY_INTENTS

FORMATS: dict[str, tuple[str, ...]] = {
    "sft": ("sft.jsonl",),
    "kto": ("kto.jsonl",),
    "dpo": ("dpo.jsonl",),
    "rasa-nlu": ("nlu.yml", "nlu.jsonl"),
}
"""Each format and the data files it writes (plus README.md, the dataset card)."""

RECORDS_TALK = frozenset({"records_notice"})
"""Intents of turns about the records themselves (the consent answer, "/good", "stop
recording"): the records stage's, not the assistant's work, so not training data."""

POSITIVE = frozenset({"good", "confirmed"})
NEGATIVE = frozenset({"bad", "correction"})
Consent = Callable[[str], ConsentRow | None]


class ExportError(ValueError):
    """An export that cannot be made; the one-line message says what to do. Nothing written."""


@dataclass(frozen=True)
class ExportResult:
    """The files written (README.md last) and, for each data file, the 0-based lines that came
    from each user key: what the store keeps as the export's manifest (`add_export`)."""

    files: list[Path]
    manifest: dict[Path, dict[str, list[int]]]
    counts: dict[str, int]


def export(
    turns: Sequence[TurnRow],
    feedback: Sequence[FeedbackRow],
    fmt: str,
    out_dir: Path | str,
    include_safety: bool = False,
    consent: Consent | None = None,
) -> ExportResult:
    """Write the `fmt` export of the records to `out_dir` (new or empty). `consent`, such as the
    store's `consent` method, leaves out users whose latest records answer is "declined" or
    "withdrawn" and states the policy versions in the card; a user never asked (no answer) was
    recorded under `records.consent: granted`. Without `consent`, the rows are taken as they are.
    Raises ExportError (nothing written) for an unknown format, a folder in the way, or
    nothing to export."""
    out = Path(out_dir)
    _check_target(fmt, out)
    counts: Counter[str] = Counter(rows_in=len(turns), feedback_in=len(feedback))
    chosen = _select(turns, feedback, include_safety, consent, counts)
    conversations = _scan_again(chosen, feedback, counts)
    lines = BUILDERS[fmt](conversations, include_safety, counts)
    files = {name: _dedupe(found, counts) for name, found in lines.items()}
    if not any(files.values()):
        raise ExportError(_nothing(fmt, counts))
    users = sorted({row.user_key for row in chosen})
    facts = CardFacts(
        fmt=fmt,
        files={name: len(found) for name, found in files.items()},
        counts=dict(counts),
        include_safety=include_safety,
        consent=consent_basis(users, consent),
        first=min((row.at for row in chosen), default=None),
        last=max((row.at for row in chosen), default=None),
        made=time.time(),
    )
    return _write(out, files, dataset_card(facts), dict(counts))


def _check_target(fmt: str, out: Path) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file: export into a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty: export into a new or empty folder")


def _nothing(fmt: str, counts: Counter[str]) -> str:
    """Why an export would be empty (an empty file is no dataset: it does not load)."""
    if not counts["turns"]:
        return (
            f"nothing to export: none of the {counts['rows_in']} recorded turns is left after "
            "the filters (consent, flags, safety)"
        )
    return f"nothing to export as {fmt}: {NOTHING[fmt]} in {counts['turns']} turns"


# --- which turns -------------------------------------------------------------------------------


def _select(
    turns: Sequence[TurnRow],
    feedback: Sequence[FeedbackRow],
    include_safety: bool,
    consent: Consent | None,
    counts: Counter[str],
) -> list[TurnRow]:
    """The rows to export, by conversation and turn: one per turn (the last written), none of a
    flagged conversation, of a user without consent, about the records, or where safety fired
    (unless kept)."""
    unique = {(row.conversation_key, row.turn): row for row in turns}
    counts["duplicate_rows"] = len(turns) - len(unique)
    flagged = {f.conversation_key for f in feedback if f.kind == "flag"}
    consented = _consented({row.user_key for row in unique.values()}, consent)
    chosen = []
    for _, row in sorted(unique.items()):
        if row.user_key not in consented:
            counts["left_out_not_consented"] += 1
        elif row.conversation_key in flagged:
            counts["left_out_flagged"] += 1
        elif row.intent in RECORDS_TALK:
            counts["left_out_records_talk"] += 1
        elif row.intent in MEMORY_INTENTS:  # the records stage keeps none; older rows may
            counts["left_out_personal_memory"] += 1
        elif row.safety_fired and not include_safety:
            counts["left_out_safety"] += 1
        else:
            counts["safety_labelled"] += row.safety_fired
            chosen.append(row)
    counts["flagged_conversations"] = len(flagged & {key for key, _ in unique})
    counts["turns"] = len(chosen)
    counts["conversations"] = len({row.conversation_key for row in chosen})
    return chosen


def _consented(users: Iterable[str], consent: Consent | None) -> set[str]:
    """The users who did not decline or withdraw (the store keeps no turn from before a
    consent; a user with no answer was recorded with consent granted in the configuration)."""
    if consent is None:
        return set(users)
    return {
        user for user in users if (answer := consent(user)) is None or answer.answer == "granted"
    }


def _scan_again(
    rows: Sequence[TurnRow], feedback: Sequence[FeedbackRow], counts: Counter[str]
) -> list[list[Turn]]:
    """The rows as turns of their conversations, every text scanned for personal data again
    with the conversation's pseudonyms, and the feedback on each turn attached."""
    by_turn: dict[tuple[str, int], list[FeedbackRow]] = defaultdict(list)
    for note in sorted(feedback, key=lambda f: f.at):
        by_turn[(note.conversation_key, note.turn)].append(note)
    conversations: dict[str, list[TurnRow]] = defaultdict(list)
    for row in rows:
        conversations[row.conversation_key].append(row)
    result = []
    for key, conversation in conversations.items():
        said = [text for row in conversation for text in (row.user_text, row.reply_text)]
        notes = [f.correction for row in conversation for f in by_turn[(key, row.turn)]]
        pseudonyms = Pseudonymizer([*said, *notes])
        result.append([_turn(row, by_turn[(key, row.turn)], pseudonyms) for row in conversation])
        counts["pseudonymized_again"] += pseudonyms.replaced
    return result


def _turn(row: TurnRow, feedback: list[FeedbackRow], pseudonyms: Pseudonymizer) -> Turn:
    turn = Turn(row, pseudonyms.anonymize(row.user_text), pseudonyms.anonymize(row.reply_text))
    for note in feedback:  # oldest first: the latest rating and correction win
        if note.kind in POSITIVE | NEGATIVE:
            turn.rating = note.kind in POSITIVE
        if note.kind == "correction":
            turn.correction = pseudonyms.anonymize(note.correction) if note.correction else ""
            turn.corrected_intent = note.corrected_intent
    turn.safety_rules = _safety_rules(row)
    return turn


def _safety_rules(row: TurnRow) -> tuple[str, ...]:
    guard = row.guard or {}
    rules = [str(guard.get("rule") or "guard")] if guard.get("refused") else []
    rules += [str(change.get("rule", "filter")) for change in row.filter]
    return tuple(sorted(set(rules)))


# --- writing -----------------------------------------------------------------------------------


def _dedupe(lines: list[Line], counts: Counter[str]) -> list[Line]:
    """One line per distinct record; it belongs to every user who said it."""
    unique: dict[str, Line] = {}
    for line in lines:
        key = json.dumps(line.record, sort_keys=True, ensure_ascii=False)
        if key in unique:
            unique[key].user_keys |= line.user_keys
        else:
            unique[key] = Line(line.record, set(line.user_keys))
    counts["duplicate_lines"] += len(lines) - len(unique)
    return list(unique.values())


def _write(
    out: Path, files: dict[str, list[Line]], card: str, counts: dict[str, int]
) -> ExportResult:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    manifest: dict[Path, dict[str, list[int]]] = {}
    for name, lines in files.items():
        path = out / name
        texts, owners = nlu_yml_lines(lines) if name == "nlu.yml" else jsonl_lines(lines)
        path.write_text("".join(f"{text}\n" for text in texts), encoding="utf-8")
        users: dict[str, list[int]] = defaultdict(list)
        for number, line_owners in enumerate(owners):
            for user in sorted(line_owners):
                users[user].append(number)
        manifest[path] = dict(users)
        written.append(path)
    (out / "README.md").write_text(card, encoding="utf-8")
    return ExportResult([*written, out / "README.md"], manifest, counts)
