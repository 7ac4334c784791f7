"""Our bus against Pipecat: a chain of pass-through stages, throughput and per-hop latency.

Run from the project root:  python -m benchmarks.bus

The chain is built with the project's real machinery, as `assistant.core.runner.Pipeline` builds it:
one `Bus` (inbox maxsize 16), one `StageRunner` per stage, each runner subscribed to its upstream
stage's `Transcript` by sender name (stage 0 reads from `INPUT`). A pass-through consumes and
produces the same type, so only that sender routing keeps it from reading its own output.

What one of our hops costs: the upstream's publish (route lookup, the inbox's direct hand-over
to the runner's per-session `Lane`), and the stage's async generator, run at once in the
publisher's task (an idle lane runs a message eagerly until the stage first waits; a
pass-through never does, so no hop here switches tasks). The chain is INPUT -> 7 stages -> a
sink subscriber; the sink is a subscriber with its own inbox and task, so it adds one queue hop
of its own (Pipecat's sink is direct mode and runs inline in the last stage's task, but Pipecat
adds a worker push-queue hop at the front instead).

Nothing observes the bus in the main chain, so no hop builds a `StageTiming` (one is built
only when an observer or a subscriber would see it). The real `TextSession` adds one observer
(`TurnRecorder`), which every publish calls synchronously: a third latency run per repeat has
one (a no-op), so that each hop builds and publishes its timing, and is reported beside.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from assistant.core.bus import Bus
from assistant.core.planner import INPUT, PlannedStage
from assistant.core.runner import StageRunner
from assistant.core.stage import Stage, StageContext, StageParams
from assistant.messages import Message, Transcript

N_STAGES = 7
N_THROUGHPUT = 2000
N_LATENCY = 500
REPEATS = 5
WARMUP_MESSAGES = 20  # same as the Pipecat side: first-call costs are not chain overhead
MAXSIZE = 16  # the default of Bus and Pipeline: the backpressure the real pipeline has
MEASURE_TIMEOUT_S = 30.0
RESULTS = Path(__file__).resolve().parent / "results" / "bus.json"
SESSION = "bench"

PipecatThroughput = Callable[[int, int], Awaitable[float]]
PipecatLatency = Callable[[int, int], Awaitable[list[float]]]


class PassThrough(Stage):
    """A stage that forwards each Transcript unchanged."""

    kind = "bench"
    backend = "passthrough"
    consumes = (Transcript,)
    produces = (Transcript,)
    description = "benchmark pass-through (never registered)"

    async def process(self, message: Message) -> AsyncIterator[Message]:
        # Yield the same object rather than `dataclasses.replace(message)`: messages are frozen,
        # so sharing one is safe, `replace` would not even re-stamp it (timestamp is an ordinary
        # field and is copied), and Pipecat's PassThrough pushes the same frame object too. A copy
        # would only add a dataclass construction per hop that neither side needs.
        yield message


class ArrivalSink:
    """Subscriber after the last stage: stamps each arrival, like Pipecat's ArrivalSink."""

    def __init__(self, bus: Bus, last_stage: str) -> None:
        self.subscription = bus.subscribe("bench-sink", {Transcript: last_stage})
        self.all_arrived = asyncio.Event()
        self.expected = 0
        self.count = 0
        self.last_arrival = 0.0
        self.waiter: asyncio.Future[float] | None = None
        self.waiting_for = -1

    def expect(self, n: int) -> None:
        self.expected = n
        self.count = 0
        self.all_arrived.clear()

    async def run(self) -> None:
        inbox = self.subscription.inbox
        while True:
            envelope = await inbox.get()
            # Stamp first, in the sink's task, the moment the message is taken from its inbox.
            now = time.perf_counter()
            inbox.task_done()
            self.count += 1
            self.last_arrival = now
            waiter = self.waiter
            if (
                waiter is not None
                and not waiter.done()
                and envelope.message.turn_id == self.waiting_for
            ):
                waiter.set_result(now)
            if self.count >= self.expected:
                self.all_arrived.set()


def _message(index: int) -> Transcript:
    # turn_id carries the sequence index (Pipecat's SeqFrame.index); the text is short on purpose.
    return Transcript(session_id=SESSION, turn_id=index, text="hello")


@asynccontextmanager
async def running_chain(
    n_stages: int, observed: bool = False
) -> AsyncIterator[tuple[Bus, ArrivalSink]]:
    """A started chain of `n_stages` pass-throughs and a sink; yielded once warm. `observed`:
    with one observer on the bus (a session's `TurnRecorder`), so that each hop's StageTiming
    is built and published."""
    bus = Bus(default_maxsize=MAXSIZE)
    if observed:
        bus.observe(lambda message, sender: None)
    context = StageContext()
    stages: list[Stage] = []
    runners: list[StageRunner] = []
    upstream = INPUT
    for i in range(n_stages):
        name = f"pass{i}"
        stage = PassThrough(name=name, params=StageParams(), context=context)
        planned = PlannedStage(
            name=name,
            kind=PassThrough.kind,
            model="passthrough",
            cls=PassThrough,
            params=stage.params,
            sources=((Transcript, upstream),),
        )
        stages.append(stage)
        runners.append(StageRunner(stage, bus, planned, MAXSIZE))
        upstream = name
    sink = ArrivalSink(bus, upstream)

    for started in stages:
        await started.start()  # what Pipeline.start does; a no-op load in the stage's thread
    tasks = [asyncio.create_task(r.run(), name=f"stage-{r.stage.name}") for r in runners]
    tasks.append(asyncio.create_task(sink.run(), name="bench-sink"))
    try:
        async with asyncio.timeout(MEASURE_TIMEOUT_S):
            sink.expect(WARMUP_MESSAGES)
            for _ in range(WARMUP_MESSAGES):
                await bus.publish(_message(-1), INPUT)
            await sink.all_arrived.wait()
        yield bus, sink
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stopped in stages:
            await stopped.stop()


async def bus_throughput(n_stages: int, n_messages: int) -> float:
    """Messages per second, all published back to back (each publish waits while the first
    inbox is full, so the producer runs at the chain's pace)."""
    async with running_chain(n_stages) as (bus, sink):
        messages = [_message(i) for i in range(n_messages)]  # built before the clock starts
        sink.expect(n_messages)
        t0 = time.perf_counter()
        async with asyncio.timeout(MEASURE_TIMEOUT_S):
            for message in messages:
                await bus.publish(message, INPUT)
            await sink.all_arrived.wait()
        elapsed = sink.last_arrival - t0
    return n_messages / elapsed


async def bus_hop_latency(
    n_stages: int, n_messages: int, observed: bool = False
) -> list[float]:
    """End-to-end seconds per message with one message in flight."""
    latencies: list[float] = []
    async with running_chain(n_stages, observed) as (bus, sink):
        loop = asyncio.get_running_loop()
        sink.expect(n_messages)
        async with asyncio.timeout(MEASURE_TIMEOUT_S):
            for i in range(n_messages):
                message = _message(i)
                waiter: asyncio.Future[float] = loop.create_future()
                sink.waiter, sink.waiting_for = waiter, i
                t0 = time.perf_counter()
                await bus.publish(message, INPUT)
                # The sink stamps the arrival, so waking this coroutine is not counted.
                latencies.append(await waiter - t0)
        sink.waiter = None
    return latencies


# --- statistics and reporting ---------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": statistics.median(samples), "p95": cuts[94], "p99": cuts[98]}


@dataclass
class Side:
    """All repeats of one implementation."""

    name: str
    throughputs: list[float] = field(default_factory=list)
    latency_runs: list[list[float]] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return statistics.median(self.throughputs)

    @property
    def latency_p50(self) -> float:
        """Median over repeats of each repeat's median latency."""
        return statistics.median(statistics.median(run) for run in self.latency_runs)

    @property
    def pooled(self) -> dict[str, float]:
        """p50/p95/p99 of every latency sample of every repeat."""
        return percentiles([s for run in self.latency_runs for s in run])

    def summary(self, n_stages: int) -> dict[str, Any]:
        return {
            "throughput_msg_s": (
                {"median": self.throughput, "runs": self.throughputs} if self.throughputs else None
            ),
            "latency_s": {
                "median_of_run_medians": self.latency_p50,
                "run_medians": [statistics.median(run) for run in self.latency_runs],
                "pooled": self.pooled,
                "samples_per_run": [len(run) for run in self.latency_runs],
            },
            "per_hop_s": self.latency_p50 / n_stages,
        }


def machine_info(pipecat_version: str | None) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "pipecat_ai": pipecat_version,
        "loadavg_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def print_table(ours: Side, pipecat: Side | None, n_stages: int) -> None:
    rows: list[tuple[str, str, str, str]] = []

    def row(label: str, a: float, b: float | None, fmt: Callable[[float], str],
            ratio: Callable[[float, float], float] | None) -> None:
        rows.append((
            label,
            fmt(a),
            fmt(b) if b is not None else "-",
            f"{ratio(a, b):.2f}x" if (ratio is not None and b is not None) else "",
        ))

    def tput(a: float, b: float) -> float:
        return a / b  # ours / pipecat: > 1 means our bus moves more messages per second

    def lat(a: float, b: float) -> float:
        return b / a  # pipecat / ours: > 1 means our bus is quicker per message

    p_ours = ours.pooled
    p_pc = pipecat.pooled if pipecat else None
    row("throughput, msg/s (median of runs)", ours.throughput,
        pipecat.throughput if pipecat else None, lambda v: f"{v:,.0f}", tput)
    row("latency p50, us (median of run p50s)", ours.latency_p50,
        pipecat.latency_p50 if pipecat else None, _us, lat)
    for key in ("p50", "p95", "p99"):
        row(f"latency {key}, us (all samples)", p_ours[key],
            p_pc[key] if p_pc else None, _us, lat)
    row(f"per hop, us (run-median p50 / {n_stages})", ours.latency_p50 / n_stages,
        pipecat.latency_p50 / n_stages if pipecat else None, _us, lat)
    row("throughput min..max of runs: min", min(ours.throughputs),
        min(pipecat.throughputs) if pipecat else None, lambda v: f"{v:,.0f}", None)
    row("throughput min..max of runs: max", max(ours.throughputs),
        max(pipecat.throughputs) if pipecat else None, lambda v: f"{v:,.0f}", None)

    header = ("", "ours (assistant.bus)", "pipecat", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in
                    enumerate(zip(header, widths, strict=True))))
    print(line)
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                        enumerate(zip(r, widths, strict=True))))
    print(line)
    print("ratio: throughput ours/pipecat, latency pipecat/ours; above 1 means our bus is faster.")


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--messages", type=int, default=N_THROUGHPUT)
    parser.add_argument("--samples", type=int, default=N_LATENCY)
    parser.add_argument("--stages", type=int, default=N_STAGES)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    n_stages: int = args.stages

    pc_throughput: PipecatThroughput | None = None
    pc_latency: PipecatLatency | None = None
    pipecat_version: str | None = None
    try:
        from benchmarks.pipecat_chain import pipecat_hop_latency, pipecat_throughput

        pc_throughput, pc_latency = pipecat_throughput, pipecat_hop_latency
        pipecat_version = metadata.version("pipecat-ai")
    except ImportError as exc:
        print(f"pipecat-ai is not installed ({exc}); measuring only our bus.")

    # Warm-up: one small run of each side, so imports and first-call costs (Pipecat's lazy
    # setup, our class and code-object caches) are paid before anything is timed.
    await bus_throughput(n_stages, 200)
    await bus_hop_latency(n_stages, 50)
    if pc_throughput is not None and pc_latency is not None:
        await pc_throughput(n_stages, 200)
        await pc_latency(n_stages, 50)

    ours, observed = Side("ours"), Side("ours, one observer")
    pipecat = Side("pipecat") if pc_throughput is not None else None
    # The repeats alternate between the sides, so slow drift on a shared machine (other jobs,
    # frequency scaling) lands on both rather than on whichever ran last.
    for rep in range(args.repeats):
        ours.throughputs.append(await bus_throughput(n_stages, args.messages))
        if pipecat is not None and pc_throughput is not None:
            pipecat.throughputs.append(await pc_throughput(n_stages, args.messages))
        ours.latency_runs.append(await bus_hop_latency(n_stages, args.samples))
        if pipecat is not None and pc_latency is not None:
            pipecat.latency_runs.append(await pc_latency(n_stages, args.samples))
        observed.latency_runs.append(await bus_hop_latency(n_stages, args.samples, True))
        print(f"  repeat {rep + 1}/{args.repeats} done", file=sys.stderr)

    print(f"\n{n_stages} pass-through stages; throughput: {args.messages} messages published back "
          f"to back; latency: {args.samples} messages one at a time; {args.repeats} repeats each, "
          f"sides alternating; warm-up before timing.")
    print(f"ours: core.bus.Bus (inbox maxsize {MAXSIZE}) + StageRunner per stage + a sink "
          f"subscriber, no observer: a StageTiming is built only for an observer or subscriber, "
          f"so none is.")
    if pipecat_version:
        print(f"pipecat: pipecat-ai {pipecat_version}, Pipeline of PassThrough FrameProcessors "
              f"under a PipelineWorker (benchmarks/pipecat_chain.py).")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs\n")
    print_table(ours, pipecat, n_stages)
    hop = observed.latency_p50 / n_stages
    versus = f" ({pipecat.latency_p50 / observed.latency_p50:.2f}x)" if pipecat else ""
    print(f"ours with one observer (each hop builds and publishes a StageTiming, as in a "
          f"session): per hop {_us(hop)} us{versus}")

    result: dict[str, Any] = {
        "benchmark": "bus pass-through chain",
        "config": {
            "n_stages": n_stages,
            "throughput_messages": args.messages,
            "latency_samples": args.samples,
            "repeats": args.repeats,
            "warmup_messages_per_chain": WARMUP_MESSAGES,
            "inbox_maxsize": MAXSIZE,
            "pass_through_yields": "the same message object",
            "stage_timing_published_per_hop": "only in ours_observed",
            "bus_observers": "0; 1 in ours_observed",
        },
        "machine": machine_info(pipecat_version),
        "ours": ours.summary(n_stages),
        "ours_observed": observed.summary(n_stages),
        "pipecat": pipecat.summary(n_stages) if pipecat else None,
        "ratios": {
            "throughput_ours_over_pipecat": ours.throughput / pipecat.throughput,
            "latency_p50_pipecat_over_ours": pipecat.latency_p50 / ours.latency_p50,
            "latency_p95_pipecat_over_ours": pipecat.pooled["p95"] / ours.pooled["p95"],
            "latency_p99_pipecat_over_ours": pipecat.pooled["p99"] / ours.pooled["p99"],
        } if pipecat else None,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return result


if __name__ == "__main__":
    asyncio.run(main())
