"""The on-disk cache of the knowledge index: each document's passages and their embeddings.

Embeddings are cached per file, keyed by its path, the encoder and `CHUNKER_VERSION`. An
unchanged file is recognised by its size and mtime without being read; a file whose mtime
changed but whose content did not (a `touch`, a checkout) is recognised by its sha1. Either way
nothing is embedded again (the index decides which, `assistant.knowledge.index`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.knowledge.passages import CHUNKER_VERSION, Passage

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

CACHE_SUBDIR = "knowledge"


@dataclass(frozen=True, slots=True)
class CacheEntry:
    meta: dict[str, Any]
    vectors: Vectors

    def passages(self, path: Path) -> list[Passage]:
        return [
            Passage(sentences=tuple(sentences), headings=tuple(headings), source_path=path)
            for headings, sentences in self.meta["passages"]
        ]


class EmbeddingCache:
    """One .npz per document (its passages and their vectors), replaced atomically, so a crash
    or a second process never leaves a half-written entry behind."""

    def __init__(self, folder: Path, model_id: str) -> None:
        self.folder = folder
        self.model_id = model_id

    def _entry_path(self, path: Path) -> Path:
        key = f"{path}\0{self.model_id}\0{CHUNKER_VERSION}"
        return self.folder / f"{hashlib.sha1(key.encode()).hexdigest()[:24]}.npz"

    def read(self, path: Path) -> CacheEntry | None:
        entry_path = self._entry_path(path)
        if not entry_path.is_file():
            return None
        try:
            with np.load(entry_path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                vectors = np.asarray(data["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.debug("ignoring unreadable cache entry %s: %s", entry_path, exc)
            return None
        same_source = (
            meta.get("path") == str(path)
            and meta.get("model") == self.model_id
            and meta.get("chunker") == CHUNKER_VERSION
        )
        if not same_source:
            return None
        entry = CacheEntry(meta, vectors)
        units = sum(p.unit_count() for p in entry.passages(path))
        return entry if units == len(vectors) else None

    def write(self, path: Path, meta: dict[str, Any], vectors: Vectors) -> None:
        entry_path = self._entry_path(path)
        meta = {**meta, "path": str(path), "model": self.model_id, "chunker": CHUNKER_VERSION}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=entry_path.stem, suffix=".tmp")
        except OSError as exc:
            # A read-only cache costs time on the next start, never the answers.
            log.warning("cannot write the knowledge cache in %s: %s", self.folder, exc)
            return
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, vectors=vectors, meta=np.array(json.dumps(meta)))
            os.replace(tmp, entry_path)
        except OSError as exc:
            log.warning("cannot write the knowledge cache in %s: %s", self.folder, exc)
            with suppress(OSError):
                os.unlink(tmp)
