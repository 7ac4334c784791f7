"""Warnings about what a skill's files say that the assistant does not implement.

Item 8 of issue 13: nothing is dropped silently. Each (file, key) is warned about once per
process, on one line naming the file, the key and what happens instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("assistant.skills")

_said: set[tuple[str, str]] = set()


def unsupported(path: Path, key: str, instead: str) -> None:
    """One warning line: `FILE: KEY is not supported; INSTEAD`."""
    if (str(path), key) in _said:
        return
    _said.add((str(path), key))
    log.warning("%s: %s is not supported; %s", path, key, instead)


def check_keys(path: Path, where: str, data: dict[str, object], known: dict[str, str]) -> None:
    """Warn for each key of `data` not in `known` (key -> what it means); `where` prefixes the
    key (e.g. `slots.cuisine.`)."""
    for key in data:
        if str(key) not in known:
            unsupported(path, f"{where}{key}", "it is ignored")
