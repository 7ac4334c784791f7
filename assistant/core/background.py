"""Something slow to build that a start should not wait for: built in a thread of its own from
the moment it is asked for, so that whoever needs it first waits only for what is left.

The language model is the case in point: most turns never need it, and loading it delayed every
start by two seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class InBackground(Generic[T]):
    """`build()` running in a daemon thread; `get()` waits for it and returns what it built,
    or raises what it raised (to every caller: the failure is not forgotten)."""

    def __init__(self, build: Callable[[], T], *, name: str) -> None:
        self.name = name
        self._build = build
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name=f"load-{name}", daemon=True).start()

    def _run(self) -> None:
        try:
            self._value = self._build()
        except BaseException as exc:  # handed to whoever asks, in their thread
            log.debug("loading %s in the background failed", self.name, exc_info=True)
            self._error = exc
        finally:
            self._done.set()

    def settle(self) -> None:
        """Wait until the build is over, whatever its outcome. Call it before the process ends:
        a native library still loading in a thread can crash the interpreter's shutdown."""
        self._done.wait()

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    def get(self, timeout: float | None = None) -> T:
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.name} is still loading")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
