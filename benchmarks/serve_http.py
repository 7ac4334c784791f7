"""Many text conversations at once over HTTP (`assistant serve`), beside the same turns through
one `assistant chat` process.

Run from the project root:  python -m benchmarks.serve_http [--conversations 100] [--turns 3]

Both sides run the default text pipeline with the tracker in memory, as separate processes
started the way a user starts them, one after the other (never at the same time: they would
share the CPU). Each gets the same untimed warm-up conversation first. The requests are
held-out NLU utterances (benchmarks/data/nlu_heldout.yml, shuffled with a fixed seed), `--turns`
per conversation.

- HTTP: `assistant serve --port 0`; every conversation starts at once and sends its turns one
  after the other to `POST /conversations/{id}/turns`. A turn's time is the client's, from
  sending the request to reading the whole answer (it includes waiting for the CPU behind the
  other conversations); turns/s is all turns over the wall time of the whole run.
- HTTP one at a time: before that, the same turns, each waited for before the next is sent
  (what HTTP adds to a turn, with nothing else running).
- CLI: `assistant chat --json` with piped input, one line written, its answer read, then the
  next: the same turns, one conversation (a CLI process has one) one turn at a time.

Also reported: the server's own per-turn time (`timings_ms.total` of the records, from the
Transcript's publication to the end of the turn), and the server's resident memory before and
after the concurrent run (its conversations stay open), per conversation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.stats import percentile
from benchmarks.text_turn import WARM_UP, heldout_utterances

RESULTS = Path(__file__).resolve().parent / "results" / "serve_http.json"
ROOT = Path(__file__).resolve().parents[1]
PIPELINE_ARGS = ["--set", "dst=tracker-memory"]


@dataclass
class Run:
    label: str
    turn_ms: list[float] = field(default_factory=list)  # as the client waited
    server_ms: list[float] = field(default_factory=list)  # timings_ms.total of the records
    wall_s: float = 0.0
    errors: int = 0

    def summary(self) -> dict[str, Any]:
        values = self.turn_ms
        return {
            "turns": len(values),
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(percentile(values, 0.95), 1),
            "max_ms": round(max(values), 1),
            "turns_per_s": round(len(values) / self.wall_s, 1),
            "wall_s": round(self.wall_s, 2),
            "server_total_p50_ms": round(statistics.median(self.server_ms), 1),
            "server_total_p95_ms": round(percentile(self.server_ms, 0.95), 1),
            "turns_with_errors": self.errors,
        }


def conversations(count: int, turns: int) -> list[list[str]]:
    utterances = heldout_utterances()
    random.Random(0).shuffle(utterances)
    needed = count * turns
    utterances = (utterances * (needed // len(utterances) + 1))[:needed]
    return [utterances[i * turns : (i + 1) * turns] for i in range(count)]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", *args, *PIPELINE_ARGS]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- HTTP ----------------------------------------------------------------------------------------


async def http_conversation(
    client: aiohttp.ClientSession, url: str, name: str, turns: Sequence[str], run: Run
) -> None:
    for text in turns:
        started = time.perf_counter()
        async with client.post(f"{url}/conversations/{name}/turns", json={"text": text}) as answer:
            record = await answer.json()
        run.turn_ms.append((time.perf_counter() - started) * 1000)
        run.server_ms.append(record["timings_ms"].get("total", float("nan")))
        run.errors += bool(record["errors"])


async def http_run(url: str, plan: list[list[str]], pid: int) -> tuple[Run, Run, dict[str, float]]:
    """The turns one at a time (what HTTP adds to a turn), then all conversations at once."""
    one, run = Run("HTTP, one at a time"), Run("HTTP")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        await http_conversation(client, url, "warm-up", WARM_UP, Run("warm-up"))
        started = time.perf_counter()
        for i, turns in enumerate(plan):
            await http_conversation(client, url, f"single-{i}", turns, one)
        one.wall_s = time.perf_counter() - started
        before = rss_mb(pid)
        started = time.perf_counter()
        await asyncio.gather(
            *(http_conversation(client, url, f"bench-{i}", t, run) for i, t in enumerate(plan))
        )
        run.wall_s = time.perf_counter() - started
    after = rss_mb(pid)
    memory = {
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "per_conversation_kb": round((after - before) * 1024 / len(plan), 1),
    }
    return one, run, memory


def measure_http(plan: list[list[str]]) -> tuple[Run, Run, dict[str, float]]:
    server = subprocess.Popen(
        command("serve", "--port", "0"), cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        found = re.search(r"http://\S+", server.stdout.readline())
        if found is None:
            raise SystemExit("assistant serve did not start")
        return asyncio.run(http_run(found.group(0).rstrip("/"), plan, server.pid))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)


# --- CLI -----------------------------------------------------------------------------------------


def measure_cli(plan: list[list[str]]) -> Run:
    chat = subprocess.Popen(
        command("chat", "--json"),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert chat.stdin is not None and chat.stdout is not None
    run = Run("CLI")

    def turn(text: str, into: Run) -> None:
        started = time.perf_counter()
        assert chat.stdin is not None and chat.stdout is not None
        chat.stdin.write(text + "\n")
        chat.stdin.flush()
        while True:  # a timer's announcement may come in between: not this turn's answer
            record = json.loads(chat.stdout.readline())
            if not record.get("proactive"):
                break
        into.turn_ms.append((time.perf_counter() - started) * 1000)
        into.server_ms.append(record["timings_ms"].get("total", float("nan")))
        into.errors += bool(record["errors"])

    try:
        for text in WARM_UP:
            turn(text, Run("warm-up"))
        started = time.perf_counter()
        for turns in plan:
            for text in turns:
                turn(text, run)
        run.wall_s = time.perf_counter() - started
    finally:
        chat.stdin.close()
        chat.wait(timeout=120)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--turns", type=int, default=3, help="turns per conversation")
    args = parser.parse_args()
    plan = conversations(args.conversations, args.turns)
    one, http, memory = measure_http(plan)
    cli = measure_cli(plan)
    rows = {
        f"HTTP, {args.conversations} conversations at once": http.summary(),
        "HTTP, one turn at a time": one.summary(),
        "CLI, one process, one turn at a time": cli.summary(),
    }
    print(
        f"{'':<42} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'turns/s':>8}"
        f" {'server p50':>11} {'server p95':>11}"
    )
    for label, s in rows.items():
        print(
            f"{label:<42} {s['turns']:>6} {s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f}"
            f" {s['max_ms']:>8.1f} {s['turns_per_s']:>8.1f} {s['server_total_p50_ms']:>11.1f}"
            f" {s['server_total_p95_ms']:>11.1f}"
        )
    print(
        f"server memory: {memory['rss_before_mb']} MB before the concurrent run, "
        f"{memory['rss_after_mb']} MB with its {args.conversations} conversations open too "
        f"({memory['per_conversation_kb']} KB each)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "text conversations over HTTP vs one CLI process",
                "utterances": "benchmarks/data/nlu_heldout.yml, shuffled (seed 0)",
                "conversations": args.conversations,
                "turns_per_conversation": args.turns,
                "pipeline": "text, --set dst=tracker-memory",
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg": os.getloadavg(),
                    "date": datetime.now(UTC).isoformat(),
                },
                "results": rows,
                "server_memory": memory,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
