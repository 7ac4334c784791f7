"""Where things built once (assembled models, indexes, fitted classifiers) are kept."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "assistant"
