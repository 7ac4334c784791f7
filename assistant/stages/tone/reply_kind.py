"""What a reply does, read from its words: apologise, say it does not know, refuse, or say
goodbye. The tone stage must not contradict it: no "Sure thing!" before "Sorry, I don't know",
no offer of help after "Goodbye".
"""

from __future__ import annotations

import re
from typing import Literal

ReplyKind = Literal["apology", "unknown", "refusal", "farewell"]
REPLY_KINDS: tuple[ReplyKind, ...] = ("apology", "unknown", "refusal", "farewell")

_PATTERNS: dict[ReplyKind, re.Pattern[str]] = {
    "apology": re.compile(r"\b(sorry|apologi[sz]e|unfortunately|i'm afraid)\b"),
    "unknown": re.compile(
        r"\b(i (don't|do not|didn't) know|i'm not sure|i am not sure|no idea|"
        r"(couldn't|could not|can't|cannot) find|not (in|covered by) your (notes|documents))\b"
    ),
    "refusal": re.compile(
        r"\b(i (can't|cannot|can not|won't|will not)|i'm (not able|unable)|i am (not able|unable)|"
        r"(is|that's|it's) beyond me|not something i can)\b"
    ),
    "farewell": re.compile(
        r"\b(good ?bye|bye|see you|talk to you (soon|later)|good ?night|farewell|take care)\b"
    ),
}


def reply_kinds(text: str) -> frozenset[ReplyKind]:
    """The kinds of `text` (none for a plain answer)."""
    plain = text.lower().replace("\u2019", "'")
    return frozenset(kind for kind, pattern in _PATTERNS.items() if pattern.search(plain))
