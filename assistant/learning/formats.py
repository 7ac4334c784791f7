"""The examples of each export format, built from the turns that passed the filters.

Each builder returns, for each file of its format, the lines in order: a JSON record and the user
keys whose words it holds. The JSON files follow TRL's conversational dataset types:
- `sft.jsonl`: `{"messages": [{"role", "content"}, ...]}`, one conversation a line, without
  the turns rated bad or corrected (a model should not learn to say them);
- `kto.jsonl`: `{"prompt": [messages so far], "completion": [the reply], "label": bool}`, one
  rated turn a line (good or confirmed: true; bad or corrected: false);
- `dpo.jsonl`: `{"prompt", "chosen", "rejected"}` where a bad reply has an alternative: the reply
  once the user corrected it (a later turn of the conversation saying the correction), or a
  well-rated reply to the same words elsewhere;
- `nlu.yml` (Rasa 3.1) and `nlu.jsonl` (`{"text", "intent"}`): each corrected utterance with the
  intent it was meant as. Utterances holding a pseudonym are left out: `<PERSON_1>` is no word
  anybody says.
With `include_safety`, every line also has `safety_fired` and `safety_rules`.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from assistant.learning.anonymize import PSEUDONYM
from assistant.learning.rows import JSON, TurnRow


@dataclass
class Turn:
    """A turn that may be exported: its texts scanned again, its latest rating and correction."""

    row: TurnRow
    user_text: str
    reply_text: str
    rating: bool | None = None  # the latest of good/confirmed (True) and bad/correction (False)
    correction: str = ""
    corrected_intent: str | None = None
    safety_rules: tuple[str, ...] = ()


@dataclass
class Line:
    """One example: its record, and the user keys whose words it holds (the manifest's)."""

    record: JSON
    user_keys: set[str] = field(default_factory=set)


NOTHING = {  # why a format found no example in the turns left
    "sft": "no turn with a reply that was not rated bad",
    "kto": "no rated reply (rate replies with /good and /bad)",
    "dpo": "no bad reply has a corrected or well-rated alternative",
    "rasa-nlu": "no correction with its intent ('no, I meant ...' after a misunderstanding)",
}


def _said(turns: Iterable[Turn]) -> list[JSON]:
    messages: list[JSON] = []
    for turn in turns:
        if turn.user_text.strip() and turn.reply_text.strip():
            messages += [_message("user", turn.user_text), _message("assistant", turn.reply_text)]
    return messages


def _message(role: str, content: str) -> JSON:
    return {"role": role, "content": content}


def _safety(turns: Sequence[Turn], include_safety: bool) -> JSON:
    """The label of lines holding turns where safety fired (only when those are exported)."""
    if not include_safety:
        return {}
    rules = sorted({rule for turn in turns for rule in turn.safety_rules})
    # One string, not a list: a file where nothing fired would give the column no type.
    return {"safety_fired": bool(rules), "safety_rules": ", ".join(rules)}


def _sft(
    conversations: list[list[Turn]], include_safety: bool, counts: Counter[str]
) -> dict[str, list[Line]]:
    lines = []
    for conversation in conversations:
        kept = [turn for turn in conversation if turn.rating is not False]
        counts["left_out_rated_bad"] += len(conversation) - len(kept)
        messages = _said(kept)
        if messages:
            record = {"messages": messages, **_safety(kept, include_safety)}
            lines.append(Line(record, {conversation[0].row.user_key}))
    return {"sft.jsonl": lines}


def _kto(
    conversations: list[list[Turn]], include_safety: bool, counts: Counter[str]
) -> dict[str, list[Line]]:
    lines = []
    for conversation in conversations:
        for index, turn in enumerate(conversation):
            if turn.rating is None or not _said([turn]):
                continue
            record = {
                "prompt": [*_said(conversation[:index]), _message("user", turn.user_text)],
                "completion": [_message("assistant", turn.reply_text)],
                "label": turn.rating,
                **_safety([turn], include_safety),
            }
            lines.append(Line(record, {turn.row.user_key}))
    return {"kto.jsonl": lines}


def _dpo(
    conversations: list[list[Turn]], include_safety: bool, counts: Counter[str]
) -> dict[str, list[Line]]:
    well_rated: dict[str, list[Turn]] = defaultdict(list)
    for turn in (turn for conversation in conversations for turn in conversation):
        if turn.rating is True:
            well_rated[_words(turn.user_text)].append(turn)
    lines = []
    for conversation in conversations:
        for index, turn in enumerate(conversation):
            if turn.rating is not False or not _said([turn]):
                continue
            better = _corrected(turn, conversation[index + 1 :]) or _rated_alike(turn, well_rated)
            if better is None:
                counts["bad_without_alternative"] += 1
                continue
            record = {
                "prompt": [*_said(conversation[:index]), _message("user", turn.user_text)],
                "chosen": [_message("assistant", better.reply_text)],
                "rejected": [_message("assistant", turn.reply_text)],
                **_safety([turn, better], include_safety),
            }
            lines.append(Line(record, {turn.row.user_key, better.row.user_key}))
    return {"dpo.jsonl": lines}


def _corrected(turn: Turn, later: Sequence[Turn]) -> Turn | None:
    """The first later turn saying what the user meant, if it was not rated bad itself."""
    meant = _words(turn.correction)
    for candidate in later:
        said = _words(candidate.user_text)
        if meant and meant in said and candidate.rating is not False:
            return candidate if candidate.reply_text.strip() != turn.reply_text.strip() else None
    return None


def _rated_alike(turn: Turn, well_rated: dict[str, list[Turn]]) -> Turn | None:
    """The latest well-rated, different reply to the same words (or to the correction)."""
    candidates = well_rated.get(_words(turn.user_text), []) + well_rated.get(
        _words(turn.correction), []
    )
    different = [c for c in candidates if _words(c.reply_text) != _words(turn.reply_text)]
    return max(different, key=lambda c: c.row.at, default=None)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[\w<>']+", text.casefold()))


def _rasa(
    conversations: list[list[Turn]], include_safety: bool, counts: Counter[str]
) -> dict[str, list[Line]]:
    """Corrected utterances with their intent; the latest correction wins for the same words."""
    examples: dict[str, tuple[str, str, Turn]] = {}
    for turn in sorted((t for c in conversations for t in c), key=lambda t: t.row.at):
        if turn.corrected_intent is None or not turn.correction:
            continue
        text = " ".join(turn.user_text.replace("[", " ").replace("]", " ").split())
        if PSEUDONYM.search(text):
            counts["left_out_pseudonym"] += 1
        elif text:
            examples[text.casefold()] = (text, turn.corrected_intent, turn)
    lines = [
        Line({"text": text, "intent": intent, **_safety([turn], include_safety)},
             {turn.row.user_key})
        for text, intent, turn in sorted(examples.values(), key=lambda e: (e[1], e[0].casefold()))
    ]  # fmt: skip
    return {"nlu.yml": lines, "nlu.jsonl": lines}


Builder = Callable[[list[list[Turn]], bool, Counter[str]], dict[str, list[Line]]]
BUILDERS: dict[str, Builder] = {"sft": _sft, "kto": _kto, "dpo": _dpo, "rasa-nlu": _rasa}


def jsonl_lines(lines: list[Line]) -> tuple[list[str], list[set[str]]]:
    texts = [json.dumps(line.record, ensure_ascii=False) for line in lines]
    return texts, [line.user_keys for line in lines]


def nlu_yml_lines(lines: list[Line]) -> tuple[list[str], list[set[str]]]:
    """Rasa's nlu.yml, one example a line; examples where safety fired come under their own
    entry of the intent, after a comment saying so."""
    texts: list[str] = ['version: "3.1"', "nlu:"]
    owners: list[set[str]] = [set(), set()]
    groups: dict[tuple[str, bool], list[Line]] = defaultdict(list)
    for line in lines:
        groups[(line.record["intent"], bool(line.record.get("safety_fired")))].append(line)
    for (intent, fired), group in sorted(groups.items()):
        head = ["# the guard or the reply filter fired on these turns"] if fired else []
        head += [f"- intent: {intent}", "  examples: |"]
        texts += head
        owners += [set() for _ in head]
        for line in group:
            texts.append(f"    - {line.record['text']}")
            owners.append(line.user_keys)
    return texts, owners
