"""Handing back the memory that glibc's malloc holds free (a process that loads several native
runtimes, each in threads of its own).

Every thread that allocates gets an arena of its own (ONNX Runtime, CTranslate2, llama.cpp and
spaCy each run in the stages' worker threads and in their own pools), and an arena returns to the
system only the free memory at its very top. What loading the models left free (a model file read
whole before its weights were laid out, features computed while fitting, a first warm-up run)
stays resident otherwise, for the whole session. `release_free_memory` is `malloc_trim(0)`, which
returns the free pages of every arena; called once the models have loaded, it takes about 100 MB
off the peak of `assistant voice` over a 3-request recording. Elsewhere than glibc it does
nothing.

Not done, because each costs speed for little memory: trimming after every turn (13 MB less
on that recording; Whisper then faults its ~90 MB of decoding buffers in again, 5-15 % slower),
and fixing glibc's mmap threshold at 1 MB so that large blocks are unmapped when freed (25 MB
less, Whisper 15-40 % slower).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache
from typing import Any


@cache
def _glibc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018  (absent from musl and others)
    except (OSError, AttributeError):
        return None
    return libc


def release_free_memory() -> None:
    """Give the memory that malloc's heaps hold free back to the system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
