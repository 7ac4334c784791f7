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
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="assistant-tests-config-")
# Records are off in tests (no consent question before every first turn); the tests of the
# records turn them on for their own runs.
os.environ["ASSISTANT_RECORDS_CONSENT"] = "off"


@pytest.fixture(scope="session")
def assistant_bin() -> str:
    """The installed console script, next to the running interpreter."""
    path = Path(sys.executable).parent / "assistant"
    assert path.exists(), "install the project first (make test does)"
    return str(path)
