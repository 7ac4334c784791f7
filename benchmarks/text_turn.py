"""Text-turn latency of the whole default text pipeline (guard, sentiment, nlu, dst, respond,
tone, filter), in process, the tracker in memory.

Run from the project root:  python -m benchmarks.text_turn [--limit N] [--records off|granted|both]

Models load once and a short untimed conversation warms them up. Then every utterance of the
held-out NLU set (benchmarks/data/nlu_heldout.yml: 340 requests the models were never trained
on, each said once, so no turn finds its words' encoding or PII scan remembered) is one turn,
in conversations of `CONVERSATION_TURNS` turns. A turn is measured from the Transcript's
publication to its TurnEnd at the sinks (the `total` of `--json`'s timings_ms), plus per stage.
Turns the language model answers (chit-chat) are reported apart: their time is the model's
(`benchmarks.llm`), not the pipeline's.

`--records granted` keeps an anonymized record of every turn (in a temporary folder), as a user
who consented has it; `off` keeps none; `both` (the default) measures both in one run, so
that the cost of writing records beside the turns is seen, not guessed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession, TurnRecord
from benchmarks.nlu import DATA_SETS, load_examples
from benchmarks.stats import percentile

RESULTS = Path(__file__).resolve().parent / "results" / "text_turn.json"
WARM_UP = [
    "hello",
    "what time is it",
    "set a timer for ten minutes",
    "add oat milk to my shopping list",
    "what is 17 times 23",
    "call me on 212-555-0147",
    "tell me a joke",
    "thanks",
]
CONVERSATION_TURNS = 10  # a new session every so many turns: conversations stay realistic
GENERATED = "generation"


def heldout_utterances() -> list[str]:
    """Every held-out request once, in file order (all intents, out-of-scope included)."""
    seen: dict[str, None] = {}
    for example in load_examples(DATA_SETS["heldout"]):
        seen.setdefault(example.text, None)
    return list(seen)


RECORDS = {"off": "records-off", "granted": "consent-granted"}


async def measure(limit: int | None, records: str) -> dict[str, list[float]]:
    path = resolve_pipeline_path("text")
    plan = plan_pipeline(
        load_pipeline(path),
        path,
        load_models(DEFAULT_MODELS),
        DEFAULT_MODELS,
        {"dst": "tracker-memory", "records": RECORDS[records]},
    )
    return await stage_timings(plan, heldout_utterances()[:limit])


async def stage_timings(plan: PipelinePlan, utterances: Sequence[str]) -> dict[str, list[float]]:
    """Milliseconds per stage (and `total`) of every turn, after an untimed warm-up; turns the
    language model answered are under `total (generated)` instead."""
    samples: dict[str, list[float]] = {}
    async with Pipeline(plan) as pipeline:
        await converse(pipeline, WARM_UP)  # first-call costs are not turn latency
        for start in range(0, len(utterances), CONVERSATION_TURNS):
            turns = utterances[start : start + CONVERSATION_TURNS]
            for record in await converse(pipeline, turns):
                timings = record.timings_ms()
                reply = record.reply
                if reply is not None and reply.source == GENERATED:
                    samples.setdefault("total (generated)", []).append(timings["total"])
                    continue
                for stage, ms in timings.items():
                    samples.setdefault(stage, []).append(ms)
    return samples


async def converse(pipeline: Pipeline, utterances: Sequence[str]) -> list[TurnRecord]:
    """One conversation of `utterances`, a turn each."""
    session = TextSession(pipeline)
    session.user = session.session_id  # a user each: one's "stop recording" stops only theirs
    await session.begin()
    records = [await session.say(text) for text in utterances]
    await session.end()
    session.close()
    return records


def run_alone(mode: str, limit: int | None) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "summary.json"
        command = [sys.executable, "-m", "benchmarks.text_turn", "--records", mode]
        command += ["--summary-to", str(out)] + (["--limit", str(limit)] if limit else [])
        subprocess.run(command, check=True)
        summary: dict[str, dict[str, float]] = json.loads(out.read_text())
        return summary


def summarize(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        stage: {"p50": statistics.median(v), "p95": percentile(v, 0.95), "max": max(v), "n": len(v)}
        for stage, v in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, help="only the first N held-out utterances")
    parser.add_argument("--records", choices=["off", "granted", "both"], default="both")
    parser.add_argument("--summary-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.summary_to is not None:  # one mode, for the process that runs both
        with tempfile.TemporaryDirectory() as state:
            os.environ["XDG_STATE_HOME"] = state  # the records written are thrown away
            os.environ.pop("ASSISTANT_RECORDS_CONSENT", None)
            summary = summarize(asyncio.run(measure(args.limit, args.records)))
        args.summary_to.write_text(json.dumps(summary))
        return
    modes = ["off", "granted"] if args.records == "both" else [args.records]
    # Each mode in a fresh process: the second would find the first's encodings remembered.
    summaries = {mode: run_alone(mode, args.limit) for mode in modes}
    for mode, summary in summaries.items():
        print(f"\nrecords {mode}:")
        print(f"{'stage':<10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'turns':>6}")
        for stage, s in summary.items():
            print(f"{stage:<10} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['max']:>8.1f} {s['n']:>6}")
    summary = summaries[modes[0]]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "text turn latency",
                "utterances": "benchmarks/data/nlu_heldout.yml, each once",
                "conversation_turns": CONVERSATION_TURNS,
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg": os.getloadavg(),
                    "date": datetime.now(UTC).isoformat(),
                },
                "summary_ms": summary,
                "by_records_ms": summaries,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
