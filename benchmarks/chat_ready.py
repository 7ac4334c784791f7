"""Interactive start: how long `assistant chat` takes to show its prompt, and to answer "hi".

Run from the project root:  python -m benchmarks.chat_ready [--runs N]

The chat runs in a pseudo-terminal, as a person starts it, so it is interactive: the language
model and the PII analyzer load in the background meanwhile (`Stage.prefetch`). Timed from the
spawn to the prompt `you>`, then from typing "hi" to the reply's `assistant>`. One untimed run
first (the page cache); the tracker is in memory, so no conversation is stored.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import statistics
import time

from benchmarks.cold_start import ASSISTANT, PROJECT

RESULTS = PROJECT / "benchmarks" / "results" / "chat_ready.json"
TIMEOUT_S = 120.0


def read_until(fd: int, marker: bytes, deadline: float) -> None:
    """Read the terminal until `marker` has been printed (raises past `deadline`)."""
    seen = b""
    while marker not in seen:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {marker!r} from the chat; it printed: {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.02)
        if ready:
            seen += os.read(fd, 4096)


def one_start() -> tuple[float, float]:
    """Seconds to the prompt, and from "hi" to the reply."""
    started = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the chat, on the terminal's end of the pty
        os.chdir(PROJECT)
        os.execv(str(ASSISTANT), ["assistant", "chat", "--set", "dst=tracker-memory"])
    deadline = started + TIMEOUT_S
    try:
        read_until(fd, b"you>", deadline)
        prompt = time.monotonic() - started
        os.write(fd, b"hi\n")
        asked = time.monotonic()
        read_until(fd, b"assistant>", deadline)
        reply = time.monotonic() - asked
        os.write(fd, b"/quit\n")
        os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return prompt, reply


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chat_ready", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    one_start()
    runs = [one_start() for _ in range(args.runs)]
    prompts, replies = [r[0] for r in runs], [r[1] for r in runs]
    result: dict[str, object] = {
        "benchmark": "interactive chat start",
        "prompt_s": {"median": statistics.median(prompts), "min": min(prompts),
                     "max": max(prompts), "runs": prompts},
        "first_reply_ms": {"median": 1000 * statistics.median(replies), "runs": replies},
        "loadavg_at_end": list(os.getloadavg()),
    }  # fmt: skip
    reply_ms = 1000 * statistics.median(replies)
    print(f"prompt after {statistics.median(prompts):.2f} s median "
          f"({min(prompts):.2f} / {max(prompts):.2f}); 'hi' answered "
          f"{reply_ms:.0f} ms after Enter (median of {args.runs})")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
