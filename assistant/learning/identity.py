"""Who a record belongs to, without naming anybody: keyed HMACs of user and session ids.

The key is 32 random bytes in a file of its own (mode 0600), by default in the config folder,
while the records live in the state folder. The records alone link a user's turns but cannot be
turned back into the user's id; with the key, `assistant data forget --user ID` finds them.
Losing the key loses that link (the records stay, nobody can be found in them any more).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from pathlib import Path

from assistant.learning.rows import RecordStoreError

KEY_BYTES = 32


def default_key_path() -> Path:
    config = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return config / "assistant" / "records.key"


class Identity:
    """Loads the key at `key_path`, creating it (0600) on first use.

    `records_path`, when given, is checked to be elsewhere: a key next to the records it
    protects would protect nothing once the folder is copied or backed up together."""

    def __init__(self, key_path: Path | None = None, *, records_path: Path | None = None) -> None:
        self.key_path = key_path if key_path is not None else default_key_path()
        if records_path is not None and _same_folder(self.key_path, records_path):
            raise RecordStoreError(
                f"the records key {self.key_path} must not be in the records' folder "
                f"{records_path.parent}: keep it elsewhere (default {default_key_path()})"
            )
        self._key = _load_or_create(self.key_path)

    def user_key(self, user_id: str) -> str:
        return self._mac(b"user", user_id)

    def conversation_key(self, session_id: str) -> str:
        return self._mac(b"conversation", session_id)

    def _mac(self, purpose: bytes, value: str) -> str:
        # The purpose keeps a user id and a session id of the same spelling apart.
        message = purpose + b"\0" + value.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def _same_folder(a: Path, b: Path) -> bool:
    return a.expanduser().absolute().parent.resolve() == b.expanduser().absolute().parent.resolve()


def _load_or_create(path: Path) -> bytes:
    try:
        return _load(path)
    except FileNotFoundError:
        pass
    return _create(path)


def _load(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except PermissionError as exc:
        raise RecordStoreError(f"cannot read the records key {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise RecordStoreError(
            f"the records key {path} can be read by others (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {path}`"
        )
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (UnicodeDecodeError, ValueError):
        key = b""
    except PermissionError as exc:
        raise RecordStoreError(f"cannot read the records key {path}: {exc.strerror}") from exc
    if len(key) != KEY_BYTES:
        raise RecordStoreError(
            f"the records key {path} is damaged (not {KEY_BYTES} bytes in hex): restore it "
            "from a backup; a new key cannot find the users already recorded"
        )
    return key


def _create(path: Path) -> bytes:
    """Write a new key whole, or take the one another process wrote first."""
    key = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
        partial = Path(name)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key.hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            # link, unlike rename, fails when the key exists: two processes agree on one key.
            os.link(partial, path)
        except FileExistsError:
            return _load(path)
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()
    except OSError as exc:
        raise RecordStoreError(
            f"cannot create the records key {path}: {exc.strerror}; check the folder is writable"
        ) from exc
    return key
