"""Errors the core raises, each with a message fit to show the user as it stands."""

from __future__ import annotations

import importlib.util


class ConfigError(Exception):
    """A configuration problem, with a one-line message fit to show the user."""


class MissingModelError(RuntimeError):
    """A model or the package that ships it is not installed. The message says what to install."""


class StageLoadError(RuntimeError):
    """A stage could not load its model or data; the message says which stage and why."""


def missing_package(module: str, package: str) -> str | None:
    """For `Stage.readiness`: whether an import would fail, without importing (cheap)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"the {package} package is not installed: pip install {package}"
