"""Work that waits for a pause in the conversation.

Anonymizing a turn (Presidio with spaCy) costs tens of milliseconds of CPU, and Python threads
share one interpreter lock: done while the next turn runs, it slowed that turn's p95 threefold on
a two-core machine. So turns to write are queued and written one at a time on the records
thread, each only once no turn has begun for `IDLE_S` (people pause longer than that between
turns); a turn that begins meanwhile waits at most for the one being written.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor

log = logging.getLogger(__name__)

IDLE_S = 0.3


class IdleQueue:
    def __init__(self, executor: Executor, idle_s: float = IDLE_S) -> None:
        self.executor = executor
        self.idle_s = idle_s
        self._jobs: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._closing = False
        self._last_turn = 0.0

    def turn_began(self) -> None:
        self._last_turn = time.monotonic()

    def put(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._jobs.append(job)
            if self._scheduled:
                return
            self._scheduled = True
        self.executor.submit(self._next)

    def flush(self) -> None:
        """Run every job now (the process is ending); call on the executor's thread."""
        self._closing = True
        while self._jobs:
            self._run(self._jobs.popleft())

    def _next(self) -> None:
        """On the executor's thread: one job if the conversation pauses, else look again then."""
        wait = self._last_turn + self.idle_s - time.monotonic()
        if wait > 0 and not self._closing:
            timer = threading.Timer(wait, self._resubmit)
            timer.daemon = True
            timer.start()
            return
        with self._lock:
            job = self._jobs.popleft() if self._jobs else None
            self._scheduled = job is not None and bool(self._jobs)
        if job is None:
            return
        self._run(job)
        if self._scheduled:
            self._resubmit()

    def _resubmit(self) -> None:
        if self._closing:
            return
        with contextlib.suppress(RuntimeError):  # shut down meanwhile: `flush` ran the rest
            self.executor.submit(self._next)

    @staticmethod
    def _run(job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("records: a turn could not be stored")
