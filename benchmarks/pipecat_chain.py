"""Pipecat baseline: cost of pushing frames through a chain of pass-through processors.

Written against pipecat-ai 1.14.0. In 1.14 ``PipelineTask`` / ``PipelineRunner``
are deprecated aliases (since 1.3.0) of ``PipelineWorker`` / ``WorkerRunner``, so
the current names are used: the runner owns the in-process bus and task manager
and drives the worker, which wraps our ``Pipeline`` between its own source and sink.

What a "hop" costs in pipecat: every ordinary (non-direct-mode) FrameProcessor
has an input priority queue drained by an input task, which hands non-system
frames to a second process queue drained by a process task. So one stage is two
asyncio queue hand-offs and two task switches. The measured chain is:

    worker push queue -> worker's outer Pipeline source -> our Pipeline
    -> its source (all three direct mode: no queue, but each still runs the
    process_frame/push_frame bookkeeping) -> n_stages x PassThrough
    -> ArrivalSink (direct mode, runs inline in the last stage's task)

i.e. ``n_stages`` queued processor hops plus a fixed per-message cost (one
worker-queue hop and three direct-mode pass-throughs). Dividing by ``n_stages``
charges that fixed cost to the stages; it is roughly one to two stages' worth,
so fit over several ``n_stages`` values if the split matters.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from loguru import logger
from pipecat.frames.frames import DataFrame, EndFrame, Frame, StartFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

# Guards so a wedged pipeline fails loudly instead of hanging the benchmark.
START_TIMEOUT_S = 10.0
MEASURE_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 5.0

# Frames pushed (and awaited) before timing, so lazily created tasks and
# first-call costs are not counted as chain overhead.
WARMUP_MESSAGES = 20


@dataclass
class SeqFrame(DataFrame):
    """Ordinary (non-system) data frame carrying a sequence index.

    A DataFrame goes through both per-processor queues, like TextFrame, and is
    the frame class pipecat uses for payloads, so it is representative.
    """

    index: int


class PassThrough(FrameProcessor):
    """Pure pass-through stage: base bookkeeping, then forward unchanged."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        # super() handles StartFrame/CancelFrame lifecycle and observers.
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class ArrivalSink(FrameProcessor):
    """Last processor of the chain: timestamps SeqFrames and swallows them.

    Runs in direct mode so it adds no queue hop of its own (pipecat's own
    PipelineSource/PipelineSink do the same); the timestamp is therefore taken
    in the last stage's task the moment the frame leaves the chain. Non-data
    frames (StartFrame, EndFrame, ...) are forwarded so the worker's lifecycle
    still works.
    """

    def __init__(self) -> None:
        super().__init__(name="ArrivalSink", enable_direct_mode=True)
        self.started = asyncio.Event()
        self.all_arrived = asyncio.Event()
        self.expected = 0
        self.count = 0
        self.last_arrival = 0.0
        # Set by the latency loop: resolved with the arrival time of one frame.
        self.waiter: asyncio.Future[float] | None = None
        self.waiting_for = -1

    def expect(self, n: int) -> None:
        """Arm the sink for a batch of ``n`` frames."""
        self.expected = n
        self.count = 0
        self.all_arrived.clear()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        # Base bookkeeping first, as for any processor (observer hook, lifecycle).
        await super().process_frame(frame, direction)
        if isinstance(frame, SeqFrame):
            now = time.perf_counter()
            self.count += 1
            self.last_arrival = now
            waiter = self.waiter
            if (
                waiter is not None
                and not waiter.done()
                and frame.index == self.waiting_for
            ):
                waiter.set_result(now)
            if self.count >= self.expected:
                self.all_arrived.set()
            return  # consumed here; nothing downstream needs the payload

        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.started.set()


@contextmanager
def _quiet_pipecat() -> Iterator[None]:
    """Mute pipecat's loguru output (debug 'Linking ...' etc.) for the run only.

    ``logger.disable`` is scoped to the ``pipecat`` module namespace, so other
    loguru users and the caller's handlers are left untouched. Per-frame
    pipecat logging is at TRACE, which the default handler already filters
    cheaply, so this does not change what is measured.
    """
    logger.disable("pipecat")
    try:
        yield
    finally:
        logger.enable("pipecat")


async def _shutdown(
    worker: PipelineWorker,
    runner: WorkerRunner,
    run_task: asyncio.Task[None],
    graceful: bool,
) -> None:
    """Stop the pipeline and runner; escalate EndFrame -> cancel -> task.cancel()."""
    if not run_task.done():
        if graceful:
            # EndFrame drains through every processor and ends the worker,
            # and the runner (auto_end=True) then exits by itself.
            await worker.queue_frame(EndFrame())
        else:
            await worker.cancel(reason="benchmark aborted")
        try:
            await asyncio.wait_for(asyncio.shield(run_task), SHUTDOWN_TIMEOUT_S)
        except TimeoutError:
            await runner.cancel(reason="benchmark shutdown timed out")
            try:
                await asyncio.wait_for(asyncio.shield(run_task), SHUTDOWN_TIMEOUT_S)
            except TimeoutError:
                run_task.cancel()
    # Surface any exception from the runner, ignore our own last-resort cancel.
    if run_task.done() and not run_task.cancelled():
        run_task.result()


@asynccontextmanager
async def _running_chain(
    n_stages: int,
) -> AsyncIterator[tuple[PipelineWorker, ArrivalSink]]:
    """Start ``n_stages`` pass-throughs + sink under a runner; yield once warm."""
    if n_stages < 1:
        raise ValueError("n_stages must be >= 1")

    sink = ArrivalSink()
    stages: list[FrameProcessor] = [PassThrough() for _ in range(n_stages)]
    pipeline = Pipeline([*stages, sink])

    # Everything that is not the chain itself is switched off:
    # - enable_rtvi=False: would prepend an RTVIProcessor (an extra hop) and an
    #   RTVIObserver that sees every push.
    # - enable_turn_tracking=False: TurnTrackingObserver on every push.
    # - idle_timeout_secs=None: no IdleFrameObserver and no idle-cancel task.
    # - enable_tracing=False (default; also needs OpenTelemetry).
    # - metrics / usage metrics / heartbeats off (defaults, stated explicitly);
    #   heartbeats would inject HeartbeatFrames into the chain every second.
    # - check_dangling_tasks=False: skip the end-of-run task audit log.
    # With no observers left, the worker's WorkerObserver proxy has no queues
    # and its per-push hook returns immediately.
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            enable_metrics=False,
            enable_usage_metrics=False,
            enable_heartbeats=False,
            send_initial_empty_metrics=False,
        ),
        enable_rtvi=False,
        enable_turn_tracking=False,
        enable_tracing=False,
        idle_timeout_secs=None,
        check_dangling_tasks=False,
    )
    # No signal handlers: this may run inside someone else's event loop.
    runner = WorkerRunner(
        handle_sigint=False, handle_sigterm=False, check_dangling_tasks=False
    )
    await runner.add_workers(worker)
    run_task = asyncio.create_task(runner.run(), name="pipecat-bench-runner")

    graceful = False
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            # Wait until StartFrame made it through every stage...
            start_wait = asyncio.create_task(sink.started.wait())
            done, _ = await asyncio.wait(
                {start_wait, run_task}, return_when=asyncio.FIRST_COMPLETED
            )
            if start_wait not in done:
                start_wait.cancel()
                raise RuntimeError("pipecat runner exited before the pipeline started")
            # ...then round-trip a few frames: the worker only starts draining
            # its push queue once its own sink saw the StartFrame, and each
            # processor creates its process task lazily on StartFrame.
            sink.expect(WARMUP_MESSAGES)
            await worker.queue_frames(
                SeqFrame(index=-1) for _ in range(WARMUP_MESSAGES)
            )
            await sink.all_arrived.wait()
        yield worker, sink
        graceful = True
    finally:
        await _shutdown(worker, runner, run_task, graceful)


async def pipecat_throughput(n_stages: int, n_messages: int) -> float:
    """Messages per second through a Pipecat Pipeline of n_stages pass-throughs.

    All n_messages frames are queued at once; timed from the first enqueue until
    the sink has seen the last one.
    """
    with _quiet_pipecat():
        async with _running_chain(n_stages) as (worker, sink):
            # Build frames up front so only enqueue + transit is timed.
            frames = [SeqFrame(index=i) for i in range(n_messages)]
            sink.expect(n_messages)
            t0 = time.perf_counter()
            # Unbounded asyncio.Queue: all frames are enqueued without yielding,
            # so the chain then runs flat out with a full backlog.
            await worker.queue_frames(frames)
            async with asyncio.timeout(MEASURE_TIMEOUT_S):
                await sink.all_arrived.wait()
            elapsed = sink.last_arrival - t0
    return n_messages / elapsed


async def pipecat_hop_latency(n_stages: int, n_messages: int) -> list[float]:
    """Per-message end-to-end latency in seconds through the same chain.

    One message in flight at a time; the caller divides by n_stages for per-hop
    overhead.
    """
    latencies: list[float] = []
    with _quiet_pipecat():
        async with _running_chain(n_stages) as (worker, sink):
            loop = asyncio.get_running_loop()
            sink.expect(n_messages)
            async with asyncio.timeout(MEASURE_TIMEOUT_S):
                for i in range(n_messages):
                    frame = SeqFrame(index=i)
                    waiter: asyncio.Future[float] = loop.create_future()
                    sink.waiter, sink.waiting_for = waiter, i
                    t0 = time.perf_counter()
                    await worker.queue_frame(frame)
                    # Arrival time is stamped by the sink, so the wake-up of
                    # this coroutine is not counted.
                    arrived = await waiter
                    latencies.append(arrived - t0)
            sink.waiter = None
    return latencies


async def _main() -> None:
    n_stages = 7
    tput = await pipecat_throughput(n_stages, 2000)
    print(f"pipecat {n_stages}-stage throughput: {tput:,.0f} msg/s")

    lat = await pipecat_hop_latency(n_stages, 500)
    lat_sorted = sorted(lat)
    p50 = statistics.median(lat_sorted)
    p99 = lat_sorted[min(len(lat_sorted) - 1, int(0.99 * len(lat_sorted)))]
    print(
        f"pipecat {n_stages}-stage latency over {len(lat)} msgs: "
        f"mean {statistics.fmean(lat) * 1e6:.1f} us, p50 {p50 * 1e6:.1f} us, "
        f"p99 {p99 * 1e6:.1f} us; "
        f"per hop (p50 / n_stages) {p50 / n_stages * 1e6:.1f} us"
    )


if __name__ == "__main__":
    asyncio.run(_main())
