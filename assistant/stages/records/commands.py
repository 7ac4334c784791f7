"""What a turn asks of the records, from its intent or a chat command.

Chat commands: `/consent` (what is kept), `/consent yes|no|stop`, `/consent audio yes|no`,
`/forget`, `/good`, `/bad [why]`, `/flag [why]`. Spoken or typed, the `records` skill's intents
do the same; "yes" and "no" count as an answer only while the consent question waits for one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assistant.learning.rows import ConsentAnswer, ConsentKind, FeedbackKind
from assistant.messages import Parse

COMMANDS = ("/consent", "/forget", "/good", "/bad", "/flag")
MAX_COMMENT = 1000


@dataclass(frozen=True)
class Notice:
    """One thing to do: answer consent, forget, tell the status, or rate the last answer."""

    consent: ConsentAnswer | None = None
    kind: ConsentKind = "records"
    action: Literal["forget", "status"] | None = None
    rating: FeedbackKind | None = None
    comment: str = ""


RATINGS: dict[str, FeedbackKind] = {"rate_good": "good", "rate_bad": "bad", "flag_reply": "flag"}
YES, NO = ("affirm", "agree_to_recording"), ("deny", "stop_recording")


def understand_command(parse: Parse, *, asking: str | None) -> Notice | None:
    """The records request of the turn, or None when it is about something else."""
    if parse.text.lstrip().startswith("/"):
        return slash_command(parse.text)
    intent = parse.intent.name
    if asking is not None and intent in YES + NO:
        kind: ConsentKind = "audio" if asking == "audio" else "records"
        return Notice(consent="granted" if intent in YES else "declined", kind=kind)
    if intent == "agree_to_recording":
        return Notice(consent="granted")
    if intent == "stop_recording":
        return Notice(consent="withdrawn")
    if intent in ("forget_my_data", "forget_me"):  # "forget everything about me": memory too
        return Notice(action="forget")
    if intent == "consent_status":
        return Notice(action="status")
    if intent in RATINGS:
        return Notice(rating=RATINGS[intent])
    return None


def slash_command(text: str) -> Notice | None:
    name, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if name in ("/good", "/bad", "/flag"):
        rating: FeedbackKind = {"/good": "good", "/bad": "bad", "/flag": "flag"}[name]  # type: ignore[assignment]
        return Notice(rating=rating, comment=rest[:MAX_COMMENT])
    if name == "/forget":
        return Notice(action="forget")
    if name != "/consent":
        return None
    words = rest.lower().split()
    kind: ConsentKind = "records"
    if words[:1] == ["audio"]:
        kind, words = "audio", words[1:]
    answers: dict[str, ConsentAnswer] = {"yes": "granted", "no": "declined", "stop": "withdrawn"}
    if len(words) == 1 and words[0] in answers:
        return Notice(consent=answers[words[0]], kind=kind)
    return Notice(action="status")
