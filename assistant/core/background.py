"""Something slow to build that a start should not wait for: built in a thread of its own from
the moment it is started, so that whoever needs it first waits only for what is left.

The language model is the case in point: most turns never need it, and loading it delayed every
start by two seconds. A build may also wait to be started (`start=False`): a one-shot process
(`chat --once`) then builds only what its turn asks for, and does not wait at exit for the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class InBackground(Generic[T]):
    """`build()` running in a daemon thread, from construction or from the first `start()` or
    `get()`; `get()` waits for it and returns what it built, or raises what it raised (to every
    caller: the failure is not forgotten)."""

    def __init__(self, build: Callable[[], T], *, name: str, start: bool = True) -> None:
        self.name = name
        self._build = build
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._started = False
        self._start_lock = threading.Lock()
        if start:
            self.start()

    def start(self) -> None:
        """Begin the build if it has not begun (returns at once)."""
        with self._start_lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._run, name=f"load-{self.name}", daemon=True).start()

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
        a native library still loading in a thread can crash the interpreter's shutdown.
        A build never started has nothing to wait for."""
        with self._start_lock:
            if not self._started:
                return
        self._done.wait()

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    def get(self, timeout: float | None = None) -> T:
        self.start()
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.name} is still loading")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
