"""Prometheus metrics of the WebSocket's spoken conversations, in the server's own registry
(the one `/metrics` renders): open connections, turns, voice-to-voice latency, slow clients."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from assistant.server.voice_link import VoiceService
from assistant.session import TurnRecord

# From the user's last speech sample to the reply's first audio: about half a second to seconds.
VOICE_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)


def observe_voice(registry: CollectorRegistry, service: VoiceService) -> None:
    """Count `service`'s connections and turns into `registry`."""
    connections = Gauge(
        "assistant_voice_connections", "WebSocket conversations open", registry=registry
    )
    connections.set_function(lambda: len(service.links))
    slow = Gauge(
        "assistant_voice_slow_clients",
        "WebSocket clients disconnected because they stopped reading",
        registry=registry,
    )
    slow.set_function(lambda: service.slow_clients)
    turns = Counter(
        "assistant_voice_turns", "Turns answered over the WebSocket", ["kind"], registry=registry
    )
    latency = Histogram(
        "assistant_voice_to_voice_seconds",
        "From the end of the user's speech to the reply's first audio (spoken turns)",
        buckets=VOICE_BUCKETS,
        registry=registry,
    )

    def turn(conversation_id: str, record: TurnRecord) -> None:
        audio = record.audio_json()
        turns.labels("spoken" if audio else "typed").inc()
        if audio and audio["voice_to_voice_ms"] is not None:
            latency.observe(audio["voice_to_voice_ms"] / 1000)

    service.observers.append(turn)
