from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"

# Tests never reach the network, whatever the machine allows.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Sessions the tests create (SQLite trackers, chat history) never land in the user's home.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="assistant-tests-state-")


@pytest.fixture(scope="session")
def assistant_bin() -> str:
    """The installed console script, next to the running interpreter."""
    path = Path(sys.executable).parent / "assistant"
    assert path.exists(), "install the project first (make test does)"
    return str(path)
