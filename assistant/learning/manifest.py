"""Lines of export files, recognised by a hash of their bytes so a forgotten user's lines can
be taken out of a file long after it was written (and after other users' lines were)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


def split_lines(data: bytes) -> list[bytes]:
    """The file's lines, each with its line end. A line ends at b"\\n" only (JSON Lines, YAML):
    bytes.splitlines would also split at a lone b"\\r" inside a text."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\r\n")).hexdigest()


def line_hashes(data: bytes) -> list[str]:
    """The hash of each line of a file's bytes, in order (line i of the file at index i)."""
    return [line_hash(line) for line in split_lines(data)]


def forget_lines(path: Path, hashes: set[str]) -> int | None:
    """Rewrite `path` without the lines whose hash is in `hashes` (a line of another user with
    exactly the same bytes goes too: it says nothing else). The count removed; None when the
    file is gone. The new file replaces the old whole, with the same permissions."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    lines = split_lines(data)
    kept = [line for line in lines if line_hash(line) not in hashes]
    removed = len(lines) - len(kept)
    if removed:
        _replace(path, b"".join(kept))
    return removed


def _replace(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode & 0o777
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
