"""Nothing personal is stored: the responder's words reach the tracker before the filter stage,
so the tracker redacts what it stores itself. Checked in the SQLite file of a real session."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT

CARD = "4111 1111 1111 1111"


def test_a_card_number_in_a_document_answer_is_not_stored(
    assistant_bin: str, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "billing.md").write_text(
        "# Billing\n\nThe company credit card used for the office supplies is "
        f"{CARD}, and invoices go to billing@example.com.\n"
    )
    state = tmp_path / "state"
    result = subprocess.run(
        [
            assistant_bin, "chat", "--session", "privacy", "--knowledge", str(notes),
            "--once", "which credit card is used for office supplies?",
        ],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "XDG_STATE_HOME": str(state)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "4111" not in result.stdout
    stored = b"".join(path.read_bytes() for path in state.rglob("*") if path.is_file())
    assert stored, "the session was stored"
    assert b"4111" not in stored and b"billing@example.com" not in stored
