"""Finding and reading the user's documents (`--knowledge PATH`: a .md/.txt file or a folder of
them).

Folders are searched recursively (hidden folders and files skipped, symlink loops walked once).
A file that cannot be used as a document (too large, binary, not utf-8, unreadable) is skipped
with a warning rather than failing the whole index; only a path that does not exist is an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
MAX_FILE_BYTES = 5_000_000  # larger "documents" are almost always logs or dumps, not notes


class KnowledgeError(Exception):
    """The knowledge path cannot be used (it does not exist). The message is one line."""


def find_documents(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """The documents named by `paths`: files as given, folders searched recursively for
    .md/.txt (hidden folders skipped). Sorted, without duplicates."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise KnowledgeError(f"knowledge path not found: {path}")
        if path.is_dir():
            documents = _documents_in(path)
            if not documents:
                log.warning("no .md or .txt documents in %s", path)
            found.update(dict.fromkeys(documents))
        else:
            found[path.resolve()] = None
    return list(found)


def _documents_in(folder: Path) -> list[Path]:
    def report(error: OSError) -> None:
        log.warning("skipping %s: %s", error.filename, error.strerror)

    documents = []
    seen: set[str] = set()
    for root, dirs, files in os.walk(folder, onerror=report, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symlink back up the tree would otherwise be walked forever
            dirs.clear()
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if path.suffix.lower() in DOCUMENT_SUFFIXES and not name.startswith("."):
                documents.append(path.resolve())
    return documents


def read_text(path: Path) -> tuple[str, str] | None:
    """(text, content sha1) of a utf-8 document, or None with a warning if it cannot be used."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            log.warning("skipping %s: larger than %d MB", path, MAX_FILE_BYTES // 1_000_000)
            return None
        data = path.read_bytes()
    except OSError as exc:
        log.warning("skipping %s: %s", path, exc.strerror or exc)
        return None
    if b"\0" in data[:8192]:
        log.warning("skipping %s: not a text file", path)
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.warning("skipping %s: not utf-8 text", path)
        return None
    return text, hashlib.sha1(data).hexdigest()
