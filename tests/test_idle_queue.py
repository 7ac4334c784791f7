"""Records are written in the pauses between turns (assistant/learning/idle.py)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from assistant.learning.idle import IdleQueue


def test_jobs_wait_for_a_pause_and_run_in_order() -> None:
    done: list[int] = []
    with ThreadPoolExecutor(1) as executor:
        queue = IdleQueue(executor, idle_s=0.2)
        queue.turn_began()
        for n in range(3):
            queue.put(lambda n=n: done.append(n))
        time.sleep(0.1)
        queue.turn_began()  # still talking: nothing written yet
        time.sleep(0.1)
        assert done == []
        deadline = time.monotonic() + 5
        while len(done) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert done == [0, 1, 2]


def test_flush_writes_what_is_left_at_once_and_a_failing_job_stops_nothing() -> None:
    done: list[str] = []

    def fails() -> None:
        raise ValueError("broken record")

    with ThreadPoolExecutor(1) as executor:
        queue = IdleQueue(executor, idle_s=60)
        queue.turn_began()
        queue.put(fails)
        queue.put(lambda: done.append("kept"))
        executor.submit(queue.flush).result()
    assert done == ["kept"]
