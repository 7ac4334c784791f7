"""Importing a library without the optional packages it would pull in for features not used.

Some libraries import heavy optional dependencies at import time when they are installed:
Presidio imports transformers (and with it torch) for an NLP engine the assistant never uses,
which cost 4 s of every start. `absent(...)` makes the named packages look uninstalled, but only
to imports made by the calling thread and only while the block runs, so other threads (another
stage loading a model that does need torch) are never affected; a package already imported is
used as it is.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType


class _Absent(importlib.abc.MetaPathFinder):
    def __init__(self, packages: frozenset[str], thread: int) -> None:
        self.packages = packages
        self.thread = thread

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if threading.get_ident() == self.thread and name.partition(".")[0] in self.packages:
            raise ModuleNotFoundError(f"No module named {name!r} (left out here)", name=name)
        return None  # the next finder decides


@contextmanager
def absent(*packages: str) -> Iterator[None]:
    """Imports of `packages` made by this thread inside the block fail as if not installed."""
    finder = _Absent(frozenset(packages), threading.get_ident())
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
