"""Rasa NLU training data (`nlu:` in nlu.yml or a project's data/*.yml) as plain data.

Examples carry entity annotations in Rasa's three forms: `[oat milk](item)`, the synonym
shorthand `[NYC](city:New York)`, and JSON `[ten minutes]{"entity": "duration", "value": "600",
"role": "from", "group": "1"}`. `regex`, `lookup` and `synonym` blocks fill their tables.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.skills.errors import SkillError
from assistant.skills.notices import unsupported


@dataclass(frozen=True, slots=True)
class EntitySpan:
    entity: str
    value: str
    start: int
    end: int
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    entities: tuple[EntitySpan, ...] = ()


@dataclass
class NluData:
    """What one file's `nlu:` list holds (mutable while files are read, then frozen on a Skill)."""

    examples: list[Example]
    regexes: dict[str, tuple[str, ...]]
    lookups: dict[str, tuple[str, ...]]
    synonyms: dict[str, str]  # spoken variant (lowercased) -> canonical value


# `[text](name)`, `[text](name:value)`, `[text]{...json...}` (no nested braces in Rasa's JSON)
_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]]+)\](?:\((?P<name>[^)]+)\)|(?P<json>\{[^}]*\})|(?P<list>\[[^\]]*\]))"
)


def _annotation(match: re.Match[str], line: str, where: str) -> dict[str, Any]:
    text = match["text"]
    if match["name"] is not None:
        name, _, value = match["name"].partition(":")
        return {"entity": name.strip(), "value": value.strip() if value else text}
    raw = match["json"] if match["json"] is not None else match["list"]
    try:
        spec = json.loads(raw)
    except ValueError:
        raise SkillError(f"{where}: {line!r}: the annotation {raw} is not valid JSON") from None
    if isinstance(spec, list):  # several entities on one span: the first is kept
        spec = spec[0] if spec else {}
    if not isinstance(spec, dict) or not spec.get("entity"):
        raise SkillError(f'{where}: {line!r}: the annotation {raw} needs an "entity"')
    return spec


def parse_example(line: str, intent: str, where: str = "nlu") -> Example:
    """Strip the entity annotations from one example, keeping their character offsets."""
    plain: list[str] = []
    spans: list[EntitySpan] = []
    cursor = 0
    length = 0
    for match in _ANNOTATION.finditer(line):
        before = line[cursor : match.start()]
        plain.append(before)
        length += len(before)
        text = match["text"]
        spec = _annotation(match, line, where)
        spans.append(
            EntitySpan(
                str(spec["entity"]),
                str(spec.get("value", text)),
                length,
                length + len(text),
                role=None if spec.get("role") is None else str(spec["role"]),
                group=None if spec.get("group") is None else str(spec["group"]),
            )
        )
        plain.append(text)
        length += len(text)
        cursor = match.end()
    plain.append(line[cursor:])
    joined = "".join(plain)
    # Offsets were counted before the leading spaces were stripped.
    shift = len(joined) - len(joined.lstrip())
    if shift:
        spans = [
            EntitySpan(s.entity, s.value, s.start - shift, s.end - shift, s.role, s.group)
            for s in spans
        ]
    return Example(joined.strip(), intent, tuple(spans))


def example_items(block: Any, where: str) -> list[str]:
    """A Rasa `examples: |` block is a string of `- item` lines; Rasa 3 also allows a list of
    `- text: ...` mappings (with metadata, which is ignored)."""
    if isinstance(block, list):
        items = []
        for entry in block:
            if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
                raise SkillError(f"{where}: 'examples' entries need a 'text'")
            items.append(entry["text"].strip())
        return items
    if not isinstance(block, str):
        raise SkillError(f"{where}: 'examples' must be a block of '- ...' lines")
    items = []
    for raw in block.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("- "):
            raise SkillError(f"{where}: example line {line!r} must start with '- '")
        items.append(line[2:].strip())
    return items


_ENTRY_KEYS = {"intent", "regex", "lookup", "synonym", "examples"}


def read_nlu(path: Path, entries: Any, into: NluData) -> None:
    """Add one file's `nlu:` entries to `into`."""
    if entries is None:
        return
    if not isinstance(entries, list):
        raise SkillError(f"{path}: nlu: expected a list of entries")
    for index, entry in enumerate(entries):
        where = f"{path}: nlu[{index}]"
        if not isinstance(entry, dict):
            raise SkillError(f"{where}: expected a mapping with 'intent' and 'examples'")
        for key in entry:
            if key not in _ENTRY_KEYS:
                unsupported(path, f"nlu[].{key}", "it is ignored")
        block = entry.get("examples")
        if "intent" in entry:
            intent = str(entry["intent"])
            if "/" in intent:
                unsupported(path, "retrieval intents (intent/sub)", "each is an intent of its own")
            into.examples.extend(
                parse_example(t, intent, where) for t in example_items(block, where)
            )
        elif "regex" in entry:
            into.regexes[str(entry["regex"])] = tuple(example_items(block, where))
        elif "lookup" in entry:
            into.lookups[str(entry["lookup"])] = tuple(example_items(block, where))
        elif "synonym" in entry:
            for variant in example_items(block, where):
                into.synonyms[variant.lower()] = str(entry["synonym"])
        else:
            raise SkillError(f"{where}: expected one of intent, regex, lookup, synonym")
