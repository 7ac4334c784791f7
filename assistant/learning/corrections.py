"""Which recorded turns become training examples, and with which intent.

- A correction: the turn's words were misunderstood; the user meant the intent their correction
  was understood as (`corrected_intent`, or else what the current model makes of the correction's
  words). The turn's words become an example of that intent.
- A confirmed low-confidence turn: the user rated it good (or confirmed it) though the model
  was unsure (`confidence` under `confidence_below`): its words become an example of the intent
  it was understood as, so that the next time it is sure.

Left out: conversations someone flagged, turns where the guard or filter fired (the words the
model saw were not the user's), texts with pseudonyms (`<PERSON_1>`: learning a placeholder
teaches nothing true), intents the skills do not have, texts that are already training examples,
and texts whose corrections disagree (no majority) or are fewer than `min_count`.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from assistant.learning.evaluate import normalize_text
from assistant.learning.rows import JSON, FeedbackRow, TurnRow
from assistant.skills.loader import Example

PSEUDONYM = re.compile(r"<[A-Z][A-Z_]*_\d+>")
OUT_OF_SCOPE = "out_of_scope"
NOT_LEARNT = frozenset({"inaudible"})  # decided by the stage, never by training examples
NOTHING = frozenset({OUT_OF_SCOPE, "inaudible"})  # a correction understood as these: not understood
Classify = Callable[[str], str | None]  # the intent of words, None when not understood


@dataclass(frozen=True)
class LearnedExample:
    text: str  # the user's words as said
    intent: str
    source: str  # "correction" or "confirmed"
    count: int  # how many times users taught it
    line: str  # the Rasa example: the words with [value](entity) annotations
    users: tuple[str, ...] = ()  # the user keys of those who taught it

    def example(self) -> Example:
        from assistant.skills.loader import parse_example

        return parse_example(self.line, self.intent)


@dataclass(frozen=True)
class Skipped:
    text: str
    reason: str


@dataclass(frozen=True)
class _Vote:
    turn: TurnRow
    intent: str
    source: str


def annotated(text: str, entities: Sequence[JSON]) -> str:
    """`text` with Rasa's annotations for the recorded entities that fit it: `[milk](item)`, or
    `[ten minutes]{"entity": "duration", "value": "600"}` when the value was normalised."""
    spans = []
    for e in entities:
        start, end, name = e.get("start"), e.get("end"), e.get("entity")
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(name, str)):
            continue
        if not 0 <= start < end <= len(text) or e.get("text", text[start:end]) != text[start:end]:
            continue  # recorded on other words (the guard's) or malformed: not ours to guess
        if "}" in str(e.get("value", "")):
            continue  # Rasa's {"entity": ..., "value": ...} form cannot hold it
        spans.append((start, end, name, e.get("value")))
    out, cursor = [], 0
    for start, end, name, value in sorted(spans):
        if start < cursor:
            continue  # overlapping: keep the first
        said = text[start:end]
        if value is None or str(value) == said:
            mark = f"[{said}]({name})"
        else:
            mark = f"[{said}]{json.dumps({'entity': name, 'value': str(value)})}"
        out += [text[cursor:start], mark]
        cursor = end
    return "".join([*out, text[cursor:]])


def _unusable(text: str) -> str | None:
    if not text.strip():
        return "no words"
    if PSEUDONYM.search(text):
        return "has an anonymized name or number in it"
    if any(c in text for c in "[]{}\n"):
        return "has brackets or lines that Rasa's format would misread"
    return None


def _votes(
    turns: Sequence[TurnRow],
    feedback: Sequence[FeedbackRow],
    classify: Classify,
    confidence_below: float,
) -> tuple[list[_Vote], list[Skipped]]:
    by_turn = {(t.conversation_key, t.turn): t for t in turns}
    flagged = {f.conversation_key for f in feedback if f.kind == "flag"}
    votes: list[_Vote] = []
    skipped: list[Skipped] = []
    for row in feedback:
        if row.kind not in ("correction", "good", "confirmed"):
            continue
        turn = by_turn.get((row.conversation_key, row.turn))
        if turn is None or row.conversation_key in flagged:
            continue  # expired, forgotten or flagged: nothing to learn from
        if turn.safety_fired:
            skipped.append(Skipped(turn.user_text, "the guard or filter fired on this turn"))
            continue
        if row.kind == "correction":
            # What was meant, when the correction itself was understood; else what the model
            # makes of its words now.
            intent = row.corrected_intent if row.corrected_intent not in NOTHING else None
            intent = intent or (classify(row.correction) if row.correction else None)
            if intent is None:
                skipped.append(Skipped(turn.user_text, "the correction was not understood"))
                continue
            votes.append(_Vote(turn, intent, "correction"))
        elif turn.confidence is not None and turn.confidence < confidence_below:
            # An out-of-scope turn's confidence is not that of any intent: nothing to confirm.
            intent = row.corrected_intent or (turn.intent if turn.intent != OUT_OF_SCOPE else None)
            if intent:
                votes.append(_Vote(turn, intent, "confirmed"))
    return votes, skipped


def collect(
    turns: Sequence[TurnRow],
    feedback: Sequence[FeedbackRow],
    *,
    intents: Iterable[str],
    training: Iterable[Example],
    classify: Classify,
    confidence_below: float = 0.6,
    min_count: int = 1,
) -> tuple[list[LearnedExample], list[Skipped]]:
    """The examples to learn from the store's rows (one per distinct text, by majority of what
    users taught), and what was left out and why. `training` is every example the model has."""
    known = set(intents) - NOT_LEARNT
    trained: dict[str, set[str]] = defaultdict(set)
    for example in training:
        trained[normalize_text(example.text)].add(example.intent)
    votes, skipped = _votes(turns, feedback, classify, confidence_below)
    groups: dict[str, list[_Vote]] = defaultdict(list)
    for vote in votes:
        groups[normalize_text(vote.turn.user_text)].append(vote)
    learned: list[LearnedExample] = []
    for key, group in groups.items():
        text = group[0].turn.user_text.strip()
        ranked = Counter(v.intent for v in group).most_common()
        intent, count = ranked[0]
        reason = _unusable(text)
        if reason is None and len(ranked) > 1 and ranked[1][1] == count:
            reason = f"users disagree ({', '.join(f'{i} x{n}' for i, n in ranked)})"
        elif reason is None and intent not in known:
            reason = f"no skill has the intent {intent!r}"
        elif reason is None and count < min_count:
            reason = f"taught {count} time(s), fewer than {min_count}"
        elif reason is None and trained.get(key):
            reason = f"already a training example of {', '.join(sorted(trained[key]))}"
        if reason is not None:
            skipped.append(Skipped(text, reason))
            continue
        first = next(v for v in group if v.intent == intent)
        source = "correction" if any(v.source == "correction" for v in group) else "confirmed"
        line = annotated(first.turn.user_text, first.turn.entities).strip()
        users = tuple(sorted({v.turn.user_key for v in group if v.intent == intent}))
        learned.append(LearnedExample(text, intent, source, count, line, users))
    return learned, skipped
