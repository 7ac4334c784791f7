"""`--trace`: a per-turn waterfall of stage timings, drawn in plain text."""

from __future__ import annotations

from assistant.session import TurnRecord


def waterfall(record: TurnRecord, width: int = 40) -> str:
    """One line per stage: when it started and how long it took, relative to the user's input."""
    if not record.timings:
        return f"turn {record.turn_id}: no stage ran"
    origin = record.transcript.timestamp if record.transcript else record.timings[0].started
    end = max(t.finished for t in record.timings)
    total = max(end - origin, 1e-9)
    name_width = max(len(t.stage) for t in record.timings)
    lines = [f"turn {record.turn_id}: {total * 1000:.1f} ms"]
    for timing in sorted(record.timings, key=lambda t: t.started):
        begin = int((timing.started - origin) / total * width)
        length = max(1, round((timing.finished - timing.started) / total * width))
        bar = " " * begin + "#" * min(length, width - begin)
        lines.append(
            f"  {timing.stage:<{name_width}} |{bar:<{width}}| "
            f"{(timing.finished - timing.started) * 1000:8.1f} ms  "
            f"(at +{(timing.started - origin) * 1000:.1f})"
        )
    for error in record.errors:
        lines.append(f"  {error.stage:<{name_width}} failed: {error.error_type}: {error.detail}")
    return "\n".join(lines)
