"""Cold start: wall time of a one-shot `assistant chat` from process start to exit.

Run from the project root:  python -m benchmarks.cold_start [--runs N]

Each command runs as a fresh subprocess, timed from just before it is spawned until it has exited
(interpreter start, imports, config, model load, one turn, shutdown). Every command first gets one
untimed run, reported separately: the very first start after a boot or an install reads torch
and the model weights from disk and can be several times slower; the timed runs measure a start
with the files in the OS page cache, which is what a user sees on the second and later starts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "benchmarks" / "results" / "cold_start.json"
# The console script installed next to this interpreter (the venv's bin/), not whatever
# `assistant` happens to be first on PATH.
BIN = Path(sys.executable).parent
ASSISTANT = BIN / ("assistant.exe" if os.name == "nt" else "assistant")
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    needs_stdout: bool  # `import assistant.cli` prints nothing; a chat turn must print a reply
    env: tuple[tuple[str, str], ...] = ()


def cases() -> list[Case]:
    chat = [str(ASSISTANT), "chat", "--once", "hi"]
    return [
        Case("import assistant.cli", [sys.executable, "-c", "import assistant.cli"], False),
        Case("chat --once hi (default pipeline: nlu=intent-minilm)", chat, True),
        Case("chat --once hi --set nlu=intent-tfidf", [*chat, "--set", "nlu=intent-tfidf"], True),
        # A number in the words: this turn loads Presidio and spaCy to look for personal data.
        Case(
            "chat --once 'my number is 212-555-0147' (loads the PII analyzer)",
            [*chat[:-1], "my number is 212-555-0147"],
            True,
        ),
        # A user who agreed to records: the turn is anonymized (Presidio, spaCy) before exit.
        Case(
            "chat --once hi, records kept (consent granted)",
            chat,
            True,
            (("ASSISTANT_RECORDS_CONSENT", "granted"),),
        ),
    ]


def run_once(case: Case) -> tuple[float, str]:
    """Seconds from spawn to exit, and the stdout; raises if the run failed."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        case.argv, cwd=PROJECT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=TIMEOUT_S, check=False, env={**os.environ, **dict(case.env)},
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"{case.name}: exit code {proc.returncode}\nstderr:\n{proc.stderr[-2000:]}"
        )
    if case.needs_stdout and not proc.stdout.strip():
        raise RuntimeError(f"{case.name}: printed nothing\nstderr:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout.strip()


def summarize(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    summary = {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }
    # A 90th percentile of fewer than ten runs is just the maximum under another name.
    if len(ordered) >= 10:
        summary["p90"] = statistics.quantiles(ordered, n=10, method="inclusive")[8]
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_start", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not ASSISTANT.exists():
        parser.error(f"no `assistant` script at {ASSISTANT}; install the project in this venv")
    # A user of their own, who has answered nothing (records are asked about, never kept,
    # unless a case says otherwise); the caches of fitted models are the machine's.
    state = tempfile.mkdtemp(prefix="cold-start-state-")
    os.environ.update(XDG_STATE_HOME=f"{state}/state", XDG_CONFIG_HOME=f"{state}/config")
    os.environ.pop("ASSISTANT_RECORDS_CONSENT", None)

    results: list[dict[str, Any]] = []
    for case in cases():
        first, _ = run_once(case)
        times: list[float] = []
        reply = ""
        for i in range(args.runs):
            elapsed, reply = run_once(case)
            times.append(elapsed)
            print(f"  {case.name}: run {i + 1}/{args.runs} {elapsed:.2f} s", file=sys.stderr)
        results.append({
            "name": case.name,
            "argv": [Path(a).name if a in (sys.executable, str(ASSISTANT)) else a
                     for a in case.argv],
            "first_run_s": first,
            "runs_s": times,
            "summary_s": summarize(times),
            "stdout": reply,
        })

    spread = "p90" if args.runs >= 10 else "min / max"
    print(f"\nCold start, {args.runs} timed runs per command after one untimed run "
          f"(python {platform.python_version()}, {os.cpu_count()} CPUs)\n")
    header = f"{'command':<54} {'median s':>9} {spread:>13} {'first run s':>12}"
    print(header)
    print("-" * len(header))
    for r in results:
        s = r["summary_s"]
        spread_text = f"{s['p90']:.2f}" if "p90" in s else f"{s['min']:.2f} / {s['max']:.2f}"
        print(f"{r['name']:<54} {s['median']:>9.2f} {spread_text:>13} {r['first_run_s']:>12.2f}")
    for r in results:
        if r["stdout"]:
            print(f"  {r['name']} -> {r['stdout']!r}")

    result: dict[str, Any] = {
        "benchmark": "cold start",
        "runs": args.runs,
        "note": "wall time from spawn to exit; one untimed run per command first (first_run_s)",
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return result


if __name__ == "__main__":
    main()
