"""A change made to a text, by character span: what the guard and the filter record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextChange:
    """One change a guard or filter made to a text, by character span of the text it was given.
    The original words are deliberately not kept: they may be a card number or a slur."""

    rule: str  # e.g. "pii:CREDIT_CARD", "profanity", "insult"
    start: int
    end: int
    replacement: str
