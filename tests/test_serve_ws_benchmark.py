"""`benchmarks.serve_ws --quick` end to end: a real `assistant serve` child process, real-time
spoken requests over `/ws`, voice to voice per turn and the server's memory. No timing limits
(those belong in the benchmark's numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.serve_ws import main


@pytest.mark.slow
def test_quick_run_measures_voice_to_voice_of_each_turn(tmp_path: Path) -> None:
    output = tmp_path / "serve_ws.json"
    result = main(["--quick", "--output", str(output)])
    assert json.loads(output.read_text()) == json.loads(json.dumps(result))
    assert result["server_exit"] == 0  # SIGTERM stops it cleanly
    alone, together = result["results"].values()
    assert (alone["conversations"], together["conversations"]) == (1, 2)
    rows = alone["rows"] + together["rows"]
    assert len(rows) == 3 and not alone["failures"] and not together["failures"]
    for row in rows:
        assert row["turn"] is not None, row  # the request became a turn of its conversation
        assert row["voice_to_voice_ms"] > 0, row  # reply audio came after the request ended
        assert row["server_voice_to_voice_ms"] > 0, row
        assert row["reply"], row
    assert together["voice_to_voice_ms"]["n"] == 2
    memory = result["memory"]
    assert all(memory[key] > 0 for key in ("rss_0_open_mb", "rss_1_open_mb", "rss_2_open_mb"))
    assert memory["per_extra_conversation_mb"] is not None
