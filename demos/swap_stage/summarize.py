"""Condense `assistant chat --json` turns (one JSON object per line on stdin) to the fields the
swap demo compares: the intent, the top of the ranking and the reply."""

from __future__ import annotations

import json
import sys
from typing import Any


def summarize(turn: dict[str, Any], top: int = 3) -> str:
    intent = turn["intent"]
    ranking = ", ".join(f"{r['name']} {r['confidence']:.2f}" for r in turn["ranking"][:top])
    return (f"  input:   {turn['input']}\n"
            f"  intent:  {intent['name']} (confidence {intent['confidence']})"
            f"   ranking: {ranking}\n"
            f"  reply:   {turn['text']}")


if __name__ == "__main__":
    for line in sys.stdin:
        if line.strip():
            print(summarize(json.loads(line)))
