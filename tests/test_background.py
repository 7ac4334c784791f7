"""Slow loading in a thread of its own (`assistant.core.background`)."""

from __future__ import annotations

import threading

import pytest

from assistant.core.background import InBackground


def test_get_waits_for_what_is_left_and_returns_it() -> None:
    release = threading.Event()
    loading = InBackground(lambda: release.wait(5) and "model", name="model")
    assert not loading.ready
    with pytest.raises(TimeoutError, match="model is still loading"):
        loading.get(timeout=0.01)
    release.set()
    assert loading.get(timeout=5) == "model" and loading.ready


def test_a_failure_reaches_every_caller() -> None:
    def broken() -> str:
        raise FileNotFoundError("gemma.gguf is missing")

    loading = InBackground(broken, name="model")
    loading.settle()
    for _ in range(2):
        with pytest.raises(FileNotFoundError, match=r"gemma\.gguf is missing"):
            loading.get()


def test_a_build_not_started_waits_for_its_first_caller() -> None:
    built: list[str] = []
    loading = InBackground(lambda: built.append("model") or "model", name="model", start=False)
    loading.settle()  # nothing begun, nothing to wait for
    assert built == [] and not loading.ready
    assert loading.get(timeout=5) == "model"
    assert built == ["model"]
    loading.start()  # already built: not built again
    loading.settle()
    assert built == ["model"]
