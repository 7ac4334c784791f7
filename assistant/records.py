"""The pieces of a turn's `--json` record that stages contribute (`Stage.turn_record`), and the
rules for putting them together.

Each stage fills the keys it knows from the messages it published in the turn: the guard
`guard` and `input`, the intent stage `intent`, `ranking` and `entities`, and so on. The session
starts from the documented keys (null: the stage is not in the pipeline) and merges the stages'
parts in pipeline order: a later stage's value wins (the dialogue tracker's parse over the
intent stage's), except that an `Extend` adds to the list before it (the guard's changes to the
input, then the filter's to the reply, make `filter`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from assistant.dialogue.events import BotUttered
from assistant.messages import DialogueUpdate, Message, Parse, Said, TextChange

JSON = dict[str, Any]
M = TypeVar("M", bound=Message)


class Extend(list[Any]):
    """A stage's part of a list that other stages add to as well."""


def merge_into(record: JSON, part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        earlier = record.get(key)
        if isinstance(value, Extend) and isinstance(earlier, list):
            record[key] = Extend([*earlier, *value])
        else:
            record[key] = value


def last_of(kind: type[M], messages: Iterable[Message]) -> M | None:
    found = None
    for message in messages:
        if isinstance(message, kind):
            found = message
    return found


def parse_json(parse: Parse) -> JSON:
    return {
        "intent": {"name": parse.intent.name, "confidence": parse.intent.confidence},
        "ranking": [{"name": i.name, "confidence": i.confidence} for i in parse.ranking],
        "entities": [
            {
                "entity": e.entity,
                "value": e.value,
                "text": e.text,
                "start": e.start,
                "end": e.end,
                **({"role": e.role} if e.role is not None else {}),
                **({"group": e.group} if e.group is not None else {}),
            }
            for e in parse.entities
        ],
    }


def changes_json(on: str, changes: Iterable[TextChange]) -> Extend:
    """Changes made to the user's words (`on="input"`) or to the reply (`on="reply"`), for the
    `filter` key that the guard and the filter both add to."""
    return Extend(
        {"on": on, "rule": c.rule, "start": c.start, "end": c.end, "replacement": c.replacement}
        for c in changes
    )


def said_of(messages: Iterable[Message]) -> Said | None:
    """The words a stage said in a turn, its pieces merged (a part 0 begins new words: an
    apology after a failure replaces what came before)."""
    pieces: list[Said] = []
    for message in messages:
        if isinstance(message, Said):
            pieces = [message] if message.part == 0 else [*pieces, message]
    return merge_pieces(sorted(pieces, key=lambda r: r.part)) if pieces else None


def merge_pieces(pieces: Sequence[Said]) -> Said:
    """One reply made of the pieces of a reply, as if it had come whole: the texts joined with
    single spaces (empty pieces skipped), each piece's changes moved to where the piece's text
    (as the filter was given it) begins in the joined text, the tone of the first piece with the
    adjustments of all pieces in order, everything else from the first piece."""
    first = pieces[0]
    if len(pieces) == 1:
        return first
    texts: list[str] = []
    changes: list[TextChange] = []
    given = 0  # length of the joined text the changes refer to
    adjustments: list[str] = []
    for piece in pieces:
        if piece.tone is not None:
            adjustments += [a for a in piece.tone.adjustments if a not in adjustments]
        if not piece.text.strip() and not piece.changes:
            continue
        offset = given + (1 if texts else 0)
        changes += [replace(c, start=c.start + offset, end=c.end + offset) for c in piece.changes]
        given = (
            offset
            + len(piece.text)
            - sum(len(c.replacement) - (c.end - c.start) for c in piece.changes)
        )
        texts.append(piece.text)
    tone = replace(first.tone, adjustments=tuple(adjustments)) if first.tone else None
    return replace(
        first, text=" ".join(texts), changes=tuple(changes), tone=tone, part=0, more=False
    )


def tone_json(said: Said) -> JSON | None:
    if said.tone is None:
        return None
    prosody = said.prosody
    return {
        "style": said.tone.style,
        "reason": said.tone.reason,
        "adjustments": list(said.tone.adjustments),
        "prosody": (
            {"rate": prosody.rate, "sentence_pause_ms": prosody.sentence_pause_ms}
            if prosody
            else None
        ),
    }


def shown_of(messages: Iterable[Message]) -> list[JSON]:
    """What the responder gave to be shown rather than said (Rasa's buttons, image and custom
    payloads, on its `BotUttered` events), in order."""
    return [
        {"text": event.text, **event.data}
        for update in messages
        if isinstance(update, DialogueUpdate)
        for event in update.events
        if isinstance(event, BotUttered) and event.data
    ]
