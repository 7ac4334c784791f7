"""Per-user memory: what a user asked the assistant to remember about them (the name to call
them, the units they prefer, facts in their words), kept across sessions and processes for that
user only. A plain library: the `memory` stage and `assistant data forget` use it."""

from __future__ import annotations

from assistant.memory.slots import MEMORY_SLOTS, WRITTEN_SLOTS, apply_slots, slot_values
from assistant.memory.store import (
    Fact,
    Memory,
    MemoryStore,
    MemoryStoreError,
    default_memory_path,
)

MEMORY_INTENTS = frozenset(
    {"tell_name", "set_units", "remember", "ask_my_name", "recall", "forget_that", "forget_me"}
)
"""The `memory` skill's intents. Their turns carry what the user asked to be remembered (or
the assistant's answer with it), so the records keep none of them and exports leave them out."""

__all__ = [
    "MEMORY_INTENTS",
    "MEMORY_SLOTS",
    "WRITTEN_SLOTS",
    "Fact",
    "Memory",
    "MemoryStore",
    "MemoryStoreError",
    "apply_slots",
    "default_memory_path",
    "slot_values",
]
