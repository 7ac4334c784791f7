"""Personal data replaced by pseudonyms that stay the same within one conversation.

"Call Anna Smith on 415 555 2671" becomes "Call <PERSON_1> on <PHONE_NUMBER_1>", and when Anna
comes up again in the same conversation she is `<PERSON_1>` again, so the records still read as a
conversation. Pseudonyms are numbered per conversation: `<PERSON_1>` of one conversation and of
another are not the same person, and nothing maps a pseudonym back to a value once the
conversation's `Pseudonymizer` is gone (it is never stored).

Finding is Presidio's, through the project's shared analyzer (`assistant.safety.pii`): every
supported entity type, names and places included, with the same validation (Luhn, checksums,
libphonenumber) and the same offline loading. A value already seen in the conversation is also
replaced where it appears again by its exact words (the named-entity model misses "anna" in lower
case after it found "Anna Smith").
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.safety.pii import (
    DEFAULT_SCORE_THRESHOLD,
    SUPPORTED_PII_ENTITIES,
    PiiRedactor,
    shared_pii_redactor,
)

ANONYMIZED_ENTITIES: tuple[str, ...] = tuple(sorted(SUPPORTED_PII_ENTITIES))
"""Everything the project's analyzer can find: names, places, phone numbers, e-mail and IP
addresses, card and bank account numbers, government ids."""

NUMBERED = frozenset(SUPPORTED_PII_ENTITIES) - {"PERSON", "LOCATION", "EMAIL_ADDRESS"}
"""Types whose value is a number however it is written: "415-555-2671" is "(415) 555 2671"."""

PSEUDONYM = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")

NAME_WORD = r"[^\W\d_][\w'-]*"
NAME_CUES = re.compile(
    r"\b(?:(?i:my name is|my name's|i'm called|i am called)\s+"
    rf"(?P<any>{NAME_WORD}(?:\s+{NAME_WORD}){{0,2}})"
    r"|(?i:i'm|i am|this is|call me)\s+"
    rf"(?P<capital>[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){{0,2}}))"
)
"""Where a name is said outright: the small named-entity model misses names it has not seen
("I'm Olusegun Obasanjo"). After "my name is" any words are taken, after "I'm" only
capitalized ones ("I'm hungry" names nobody), up to the first word that starts no name."""

NOT_NAMES = frozenset(
    ("a", "an", "and", "the", "not", "but", "so", "from", "here", "there", "in", "at", "on",
     "with", "just", "very", "also", "too", "i", "is", "and", "or", "what", "when", "by",
     "please", "thanks", "thank", "who", "how", "sorry", "afraid", "back", "done", "ready", "home",
     "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
     "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december", "today", "tomorrow", "tonight", "english")
)  # fmt: skip
"""Words that start no name said outright: "I'm Sorry", "this is Monday's list"."""


@dataclass(frozen=True)
class Finding:
    """A piece of personal data in a text, by character span (the value itself is not kept)."""

    entity: str
    start: int
    end: int


def redactor() -> PiiRedactor:
    """The process's one redactor for every supported entity (loads Presidio on first use)."""
    return shared_pii_redactor(ANONYMIZED_ENTITIES, DEFAULT_SCORE_THRESHOLD)


def find_personal_data(text: str) -> list[Finding]:
    """The personal data in `text`, in order, overlapping findings joined: what Presidio finds
    and names said outright (`NAME_CUES`). Pseudonyms such as `<PERSON_1>` are not personal
    data and are never reported. Blocking (a few ms; seconds for the first text)."""
    taken = [(m.start(), m.end()) for m in PSEUDONYM.finditer(text)]
    found = [
        Finding(change.rule.removeprefix("pii:"), change.start, change.end)
        for change in redactor().find(text)
    ]
    found += _named_outright(text)
    findings: list[Finding] = []
    for finding in sorted(found, key=lambda f: (f.start, -f.end)):
        if any(start <= finding.start and finding.end <= end for start, end in taken):
            continue
        if findings and finding.start < findings[-1].end:
            last = findings[-1]
            findings[-1] = Finding(last.entity, last.start, max(last.end, finding.end))
        else:
            findings.append(finding)
    return findings


def _named_outright(text: str) -> list[Finding]:
    findings = []
    for match in NAME_CUES.finditer(text):
        group = "any" if match.group("any") else "capital"
        words = []
        for word in match.group(group).split():
            if word.casefold().removesuffix("'s").strip("'") in NOT_NAMES:
                break
            words.append(word)
        if words:
            start = match.start(group)
            findings.append(Finding("PERSON", start, start + len(" ".join(words))))
    return findings


def value_key(entity: str, value: str) -> tuple[str, str]:
    """What makes two written values the same one: the digits (and letters) of a number,
    whatever type it was found as ("415-555-2671" is a phone number and a valid NHS number);
    else the type and the words without case or extra spaces."""
    if entity in NUMBERED:
        return "#", re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return entity, " ".join(value.split()).casefold()


class Pseudonymizer:
    """Replaces personal data with `<ENTITY_n>` pseudonyms, consistently within one
    conversation: make one per conversation and pass it every text of it, in order.
    Safe to share between threads (one text at a time)."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._pseudonyms: dict[tuple[str, str], str] = {}  # value_key -> pseudonym
        self._literal: dict[str, str] = {}  # words of a name or place -> its pseudonym
        self._parts: dict[str, str] = {}  # a capitalized word of a name -> its pseudonym
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.replaced = 0  # spans replaced so far
        self.reserve(texts)

    def reserve(self, texts: Iterable[str]) -> None:
        """Pseudonyms already in `texts` (anonymized earlier) are not given out again."""
        with self._lock:
            for text in texts:
                for match in PSEUDONYM.finditer(text):
                    entity, number = match.group(1), int(match.group(2))
                    self._counts[entity] = max(self._counts.get(entity, 0), number)

    def pseudonym(self, entity: str, value: str) -> str:
        """The conversation's pseudonym for `value`, a new one the first time it is seen. A
        name that is part of one seen before is the same person ("Maria", "Maria Gonzalez")."""
        key = value_key(entity, value)
        with self._lock:
            known = self._pseudonyms.get(key) or self._part_of_known(entity, key[1])
            if known is None:
                self._counts[entity] = self._counts.get(entity, 0) + 1
                known = f"<{entity}_{self._counts[entity]}>"
            self._pseudonyms[key] = known
            if entity not in NUMBERED:
                self._literal[key[1]] = known
            if entity == "PERSON":
                for part in value.split():
                    if len(part) > 2 and part[0].isupper():
                        self._parts.setdefault(part, known)
            return known

    def _part_of_known(self, entity: str, words: str) -> str | None:
        if entity != "PERSON":
            return None
        parts = set(words.split())
        for (kind, known_words), pseudonym in self._pseudonyms.items():
            if kind == entity and parts <= set(known_words.split()):
                return pseudonym
        return None

    def anonymize(self, text: str) -> str:
        """`text` with every piece of personal data replaced by its pseudonym."""
        findings = find_personal_data(text)
        return self.replace(text, findings)

    def replace(self, text: str, findings: Sequence[Finding]) -> str:
        """`text` with `findings` (spans of `text`) and the values seen before replaced."""
        pieces: list[str] = []
        position = 0
        for finding in sorted(findings, key=lambda f: f.start):
            if finding.start < position:
                continue
            value = text[finding.start : finding.end]
            pieces += [text[position : finding.start], self.pseudonym(finding.entity, value)]
            position = finding.end
            self.replaced += 1
        pieces.append(text[position:])
        return self._replace_known("".join(pieces))

    def anonymize_json(self, value: Any) -> Any:
        """Every string inside `value` (dicts, lists: an intent's entities) anonymized; a
        string that is a whole value seen before becomes its pseudonym even where Presidio
        would not find it alone ("Anna" as an entity value)."""
        if isinstance(value, str):
            known = self._literal.get(value_key("PERSON", value)[1])
            return known if known is not None else self.anonymize(value)
        if isinstance(value, dict):
            return {key: self.anonymize_json(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.anonymize_json(item) for item in value]
        return value

    def _replace_known(self, text: str) -> str:
        """Names and places seen earlier in the conversation, wherever their words appear, and
        the capitalized words of a name on their own ("Maria" of "Maria Gonzalez")."""
        with self._lock:
            known = sorted(self._literal.items(), key=lambda item: -len(item[0]))
            parts = sorted(self._parts.items(), key=lambda item: -len(item[0]))
        for words, pseudonym in known:
            pattern = r"(?<![\w<])" + r"\s+".join(map(re.escape, words.split())) + r"(?![\w>])"
            text, count = re.subn(pattern, pseudonym, text, flags=re.IGNORECASE)
            self.replaced += count
        for part, pseudonym in parts:
            text, count = re.subn(rf"(?<![\w<]){re.escape(part)}(?![\w>])", pseudonym, text)
            self.replaced += count
        return text
