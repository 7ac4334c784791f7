"""Where things built once (assembled models, indexes, fitted classifiers) are kept, and how
a file is put there."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "assistant"


def default_state_dir() -> Path:
    """What is kept of the users: conversations, records, the chat's line history."""
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "assistant"


def write_whole(path: Path, write: Callable[[Path], None], *, what: str) -> bool:
    """Have `write` make the file at `path`, whole or not at all: it writes a partial file
    that is then renamed into place, so a reader (another process) never sees half of it.
    False, with a warning, when the cache cannot be written: that only costs the work again."""
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        os.replace(partial, path)
        return True
    except OSError as exc:
        log.warning("cannot keep %s in %s: %s", what, path, exc)
        with contextlib.suppress(OSError):  # nothing may have been written
            partial.unlink()
        return False


def kept_file(path: Path, write: Callable[[Path], None], *, what: str) -> Path:
    """Where the file `write` makes lives: `path`, or when the cache cannot be written a
    temporary folder of this process's own."""
    if write_whole(path, write, what=what):
        return path
    fallback = Path(tempfile.mkdtemp(prefix="assistant-")) / path.name
    write(fallback)
    return fallback
