"""Text-turn latency of the whole default text pipeline (guard, sentiment, nlu, dst, respond,
tone, filter), in process, the tracker in memory.

Run from the project root:  python -m benchmarks.text_turn [--rounds N]

Models load once; each utterance is one turn of one session, measured from the Transcript's
publication until the bus is quiet (the `total` of `--json`'s timings_ms), plus per stage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession

RESULTS = Path(__file__).resolve().parent / "results" / "text_turn.json"
UTTERANCES = [
    "hello",
    "what time is it",
    "what's the date today",
    "set a timer for ten minutes",
    "how long is left on my timer",
    "cancel my timer",
    "add oat milk to my shopping list",
    "and bread",
    "what's on my list",
    "remove bread from my list",
    "what is 17 times 23",
    "how many centimeters in 3 inches",
    "tell me a joke",
    "what can you do",
    "how are you",
    "book me a flight to lisbon",
    "thanks",
    "goodbye",
]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(rounds: int) -> dict[str, list[float]]:
    path = resolve_pipeline_path("text")
    plan = plan_pipeline(
        load_pipeline(path),
        path,
        load_models(DEFAULT_MODELS),
        DEFAULT_MODELS,
        {"dst": "tracker-memory"},
    )
    return await stage_timings(plan, UTTERANCES, rounds)


async def stage_timings(
    plan: PipelinePlan, utterances: Sequence[str], rounds: int
) -> dict[str, list[float]]:
    """Milliseconds per stage (and `total`) of every turn, after one untimed round."""
    samples: dict[str, list[float]] = {}
    async with Pipeline(plan) as pipeline:
        session = TextSession(pipeline)
        await session.begin()
        for text in utterances:  # warm-up: first-call costs are not turn latency
            await session.say(text)
        for _ in range(rounds):
            for text in utterances:
                record = await session.say(text)
                for stage, ms in record.timings_ms().items():
                    samples.setdefault(stage, []).append(ms)
        await session.end()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    samples = asyncio.run(measure(args.rounds))
    summary = {
        stage: {"p50": statistics.median(v), "p95": percentile(v, 0.95), "max": max(v), "n": len(v)}
        for stage, v in samples.items()
    }
    print(f"{'stage':<10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'turns':>6}")
    for stage, s in summary.items():
        print(f"{stage:<10} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['max']:>8.1f} {s['n']:>6}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "text turn latency",
                "rounds": args.rounds,
                "utterances": UTTERANCES,
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg": os.getloadavg(),
                    "date": datetime.now(UTC).isoformat(),
                },
                "summary_ms": summary,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
