"""Safety checks shared by the input guard and the response filter: personal-data redaction
(`pii`) and profanity / toxicity detection (`toxicity`).

Both report what they would change as `TextChange`s, by character span of the text they were
given, so that one text can be checked by several rules and changed once (`apply_changes`).
Heavy models load lazily, inside the modules, never on importing this package.
"""

from __future__ import annotations

from collections.abc import Iterable

from assistant.text.changes import TextChange


def apply_changes(text: str, changes: Iterable[TextChange]) -> str:
    """`text` with every change applied. Spans refer to `text` and must not overlap."""
    pieces: list[str] = []
    position = 0
    for change in sorted(changes, key=lambda c: c.start):
        if change.start < position or change.end > len(text) or change.start > change.end:
            raise ValueError(f"change {change} overlaps another or lies outside the text")
        pieces += [text[position : change.start], change.replacement]
        position = change.end
    pieces.append(text[position:])
    return "".join(pieces)


def without_overlaps(
    kept: Iterable[TextChange], candidates: Iterable[TextChange]
) -> list[TextChange]:
    """The `candidates` that overlap none of the `kept` changes (which win)."""
    kept = list(kept)
    return [c for c in candidates if all(c.end <= k.start or c.start >= k.end for k in kept)]


__all__ = ["apply_changes", "without_overlaps"]
