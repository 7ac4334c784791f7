"""Prometheus metrics of a server: turns, errors by stage, stage and turn latencies, open
conversations. A registry of its own (not the process-wide default), so that two servers in
one process (tests) never count into each other."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from assistant.server.hub import ConversationHub
from assistant.session import TurnRecord

# Stage times run from well under a millisecond (tone) to seconds (a language model).
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ServerMetrics:
    """Counts every turn the hub runs, whichever front end asked for it."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, hub: ConversationHub) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter(
            "assistant_turns", "Turns answered", ["pipeline"], registry=self.registry
        )
        self.errors = Counter(
            "assistant_stage_errors",
            "Stage failures (each one's turn got an apology)",
            ["stage"],
            registry=self.registry,
        )
        self.timeouts = Counter(
            "assistant_turn_timeouts", "Turns that took too long", registry=self.registry
        )
        self.stage_seconds = Histogram(
            "assistant_stage_seconds",
            "Time each stage spent on a turn",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.turn_seconds = Histogram(
            "assistant_turn_seconds",
            "Time from a request to its reply, waiting for the conversation's turn included",
            buckets=TURN_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "assistant_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        active = Gauge(
            "assistant_active_conversations", "Conversations open", registry=self.registry
        )
        active.set_function(lambda: hub.active)
        self.pipeline = hub.name
        hub.observe_turns(self.turn)

    def turn(self, conversation_id: str, record: TurnRecord, seconds: float) -> None:
        self.turns.labels(self.pipeline).inc()
        self.turn_seconds.observe(seconds)
        for error in record.errors:
            self.errors.labels(error.stage).inc()
        if record.timed_out:
            self.timeouts.inc()
        for stage, ms in record.timings_ms().items():
            if stage != "total":
                self.stage_seconds.labels(stage).observe(ms / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
