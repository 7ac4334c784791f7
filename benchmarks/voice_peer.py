"""What the Pipecat peer of the voice benchmark saw, turned into rows, and both sides side by side.

`benchmarks.pipecat_voice` runs Pipecat (and imports it); this module imports no Pipecat, so its
arithmetic is tested without the `bench` extra. A `Trace` holds one conversation's events as
`time.monotonic()` seconds. Every latency here is measured from the request's last voiced sample
as generated (`Conversation.speech_ends_s`): the reference of our side's `from_true_end_ms`, so
the two sides are timed from the same instant.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.asr import normalize
from benchmarks.audio_set import Conversation, summary

LOAD_BUDGET_S = 300.0  # the peer's models and our text pipeline, on a busy 2-core machine
PER_CONVERSATION_S = 45.0  # beyond the recording: replies, silence fallbacks, teardown

# Per turn, milliseconds from the request's last voiced sample (`to_*`) or between two events.
PEER_KEYS = (
    "from_true_end_ms",  # to the reply's first TTSAudioRawFrame: voice to voice
    "to_vad_stop_ms",  # Silero stopped (stop_secs of silence)
    "to_transcript_ms",  # Whisper's transcript of the segment
    "to_endpoint_ms",  # the aggregator released the turn (Smart Turn said complete)
    "endpoint_to_first_audio_ms",  # our text pipeline, then Piper's first sentence
    "reply_text_ms",  # endpoint to our text pipeline's first piece of the reply
    "tts_first_audio_ms",  # that piece to Pipecat's Piper's first audio
)


@dataclass
class PeerTurn:
    endpoint: float  # the aggregator released the user turn
    heard: str
    reply: str = ""
    intent: str | None = None
    errors: list[str] = field(default_factory=list)
    first_piece: float | None = None  # our text pipeline's first piece of the reply
    first_audio: float | None = None  # the first TTSAudioRawFrame after the TTS service


@dataclass
class Trace:
    """One conversation's events, written by the peer's processors as they happen."""

    stream_start: float | None = None  # where the recording's 0 s is on the monotonic clock
    vad_stops: list[float] = field(default_factory=list)
    transcripts: list[tuple[float, str]] = field(default_factory=list)
    turns: list[PeerTurn] = field(default_factory=list)

    def answered(self) -> bool:
        """Every turn so far has begun to speak (a turn that heard nothing has nothing to say)."""
        return all(t.first_audio or not t.heard for t in self.turns)

    def finished(self, ends_s: Sequence[float], ended: float, now: float, quiet_s: float) -> bool:
        """After the recording `ended`: the last request has its turn and every turn is
        answered, or every turn is answered and none came for `quiet_s` (a request lost, or
        two heard as one)."""
        if not self.answered() or self.stream_start is None:
            return False
        last = max([t.endpoint for t in self.turns], default=ended)
        heard_last = bool(ends_s) and last - self.stream_start >= ends_s[-1]
        return heard_last or now - max(last, ended) > quiet_s


def last_before(times: Sequence[float], limit: float) -> float | None:
    earlier = [t for t in times if t <= limit]
    return max(earlier) if earlier else None


def request_of(ends_s: Sequence[float], endpoint_s: float) -> int | None:
    """The request a turn answers: the last one whose speech ended before the turn did."""
    ended = [i for i, end in enumerate(ends_s) if end <= endpoint_s]
    return ended[-1] if ended else None


def _ms(at: float | None, since: float | None) -> float | None:
    return round((at - since) * 1000, 1) if at is not None and since is not None else None


def turn_rows(trace: Trace, talk: Conversation) -> list[dict[str, Any]]:
    """One row per turn the peer took, with the request it answers."""
    rows: list[dict[str, Any]] = []
    start = trace.stream_start
    for number, turn in enumerate(trace.turns, start=1):
        index = request_of(talk.speech_ends_s, turn.endpoint - start) if start else None
        end = start + talk.speech_ends_s[index] if start and index is not None else None
        transcript = last_before([t for t, _ in trace.transcripts], turn.endpoint)
        rows.append(
            {
                "turn": number,
                "request": talk.texts[index] if index is not None else None,
                "voice": talk.voices[index] if index is not None else None,
                "heard": turn.heard,
                "intent": turn.intent,
                "reply": turn.reply,
                "errors": turn.errors,
                "from_true_end_ms": _ms(turn.first_audio, end),
                "to_vad_stop_ms": _ms(last_before(trace.vad_stops, turn.endpoint), end),
                "to_transcript_ms": _ms(transcript, end),
                "to_endpoint_ms": _ms(turn.endpoint, end),
                "endpoint_to_first_audio_ms": _ms(turn.first_audio, turn.endpoint),
                "reply_text_ms": _ms(turn.first_piece, turn.endpoint),
                "tts_first_audio_ms": _ms(turn.first_audio, turn.first_piece),
            }
        )
    return rows


def of(rows: Sequence[dict[str, Any]], key: str) -> dict[str, float] | None:
    values = [row[key] for row in rows if row.get(key) is not None]
    return summary(values, digits=1) if values else None


def peer_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"turns": len(rows), **{key: of(rows, key) for key in PEER_KEYS}}


# --- both sides ---------------------------------------------------------------------------------


def our_splits(row: dict[str, Any]) -> dict[str, float | None]:
    """Our turn row cut where the peer's is: the VAD's end of speech and the transcript, from
    the request's last voiced sample, and the transcript to the first reply sample."""
    true_end, after_endpoint, after_transcript = (
        row.get(k) for k in ("from_true_end_ms", "first_audio_ms", "transcript_to_first_audio_ms")
    )

    def minus(part: float | None) -> float | None:
        return round(true_end - part, 1) if true_end is not None and part is not None else None

    return {
        "from_true_end_ms": true_end,
        "to_vad_stop_ms": minus(after_endpoint),
        "to_transcript_ms": minus(after_transcript),
        "transcript_to_first_audio_ms": after_transcript,
    }


# (label, our key in `our_splits`, the peer's key)
COMPARED: tuple[tuple[str, str, str], ...] = (
    ("voice to voice (last voiced sample -> first reply sample)", "from_true_end_ms",
     "from_true_end_ms"),
    ("  last voiced sample -> VAD end of speech", "to_vad_stop_ms", "to_vad_stop_ms"),
    ("  last voiced sample -> transcript", "to_transcript_ms", "to_transcript_ms"),
    ("  last voiced sample -> turn released (peer: Smart Turn)", "to_transcript_ms",
     "to_endpoint_ms"),
    ("  turn released -> first reply sample", "transcript_to_first_audio_ms",
     "endpoint_to_first_audio_ms"),
)  # fmt: skip


def side_by_side(ours: Sequence[dict[str, Any]], peer: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95 of both sides, row by row, and where they heard a request differently."""
    split = [our_splits(row) for row in ours]
    table = [
        {"label": label, "ours": of(split, mine), "pipecat": of(peer, theirs)}
        for label, mine, theirs in COMPARED
    ]
    return {"table": table, "heard_differently": heard_differently(ours, peer)}


def heard_differently(
    ours: Sequence[dict[str, Any]], peer: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Requests whose transcripts differ in words (spelling of numbers, case and punctuation
    aside), or that one side did not answer as one turn."""

    def heard(rows: Sequence[dict[str, Any]]) -> dict[tuple[int, str], list[str]]:
        found: dict[tuple[int, str], list[str]] = {}
        for row in rows:
            if row.get("request") is not None:
                key = (row.get("conversation", 0), row["request"])
                found.setdefault(key, []).append(row.get("heard") or "")
        return found

    mine, theirs = heard(ours), heard(peer)
    differ = []
    for key in sorted(mine.keys() | theirs.keys(), key=str):
        a, b = mine.get(key, []), theirs.get(key, [])
        if len(a) != 1 or len(b) != 1 or normalize(a[0]) != normalize(b[0]):
            differ.append({"conversation": key[0], "request": key[1], "ours": a, "pipecat": b})
    return differ


def print_side_by_side(compared: dict[str, Any]) -> None:
    def cell(s: dict[str, float] | None) -> str:
        return f"{s['p50']:.0f} / {s['p95']:.0f} (n={s['n']})" if s else "-"

    print("\n| | ours p50 / p95 ms | Pipecat 1.14 p50 / p95 ms |")
    print("|---|---|---|")
    for row in compared["table"]:
        print(f"| {row['label']} | {cell(row['ours'])} | {cell(row['pipecat'])} |")
    for item in compared["heard_differently"]:
        print(f"heard differently: {item['request']!r}: ours {item['ours']}, "
              f"Pipecat {item['pipecat']}")  # fmt: skip


# --- the run, from benchmarks.voice_latency -----------------------------------------------------


def run_peer(
    warmup: Conversation, talks: Sequence[Conversation], overrides: dict[str, str]
) -> dict[str, Any]:
    """The Pipecat peer's result, or why there is none: a missing `bench` extra, a piece that
    cannot run offline or a hang is reported here and our own results still stand."""
    try:
        from benchmarks import pipecat_voice
    except ImportError as exc:
        return {"error": f"pipecat-ai is not installed (pip install -e '.[bench]'): {exc}"}
    recordings = [warmup, *talks]
    budget = LOAD_BUDGET_S + sum(t.audio.duration + PER_CONVERSATION_S for t in recordings)
    print(f"  the same recordings through Pipecat (at most {budget:.0f} s)", file=sys.stderr)

    async def bounded() -> dict[str, Any]:
        return await asyncio.wait_for(pipecat_voice.measure(warmup, list(talks), overrides), budget)

    try:
        return asyncio.run(bounded())
    except Exception as exc:  # reported in the results; ours are already measured
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def report_peer(ours: Sequence[dict[str, Any]], peer: dict[str, Any]) -> dict[str, Any] | None:
    """Print the peer's pieces and both sides side by side; the comparison for the JSON."""
    print(f"\nPipecat {peer.get('pipecat_ai', '')} on the same recordings:")
    for piece, status in peer.get("pieces", {}).items():
        print(f"  {piece}: {status}")
    if "error" in peer:
        print(f"  no Pipecat figures: {peer['error']}")
        return None
    for error in peer.get("errors", []):
        print(f"  Pipecat error: {error}")
    compared = side_by_side(ours, peer["turns"])
    print_side_by_side(compared)
    return compared
