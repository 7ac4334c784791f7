"""The registry of stage backends: (kind, backend name) -> the class that implements it.

Backends are listed, not imported: the product passes a static table of `module:Class` targets,
plugins add entry points in the group `assistant.stages` named `kind.backend`. A class is imported
the first time it is used (a pipeline that runs it, `assistant models`), so reading and
validating config imports no backend, and a backend whose package is missing fails only when it
is used, saying what to install. An entry point with a plain name (no kind in it) is imported
at discovery, as before, to learn its kind.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import EntryPoint, entry_points

from assistant.core.errors import MissingModelError
from assistant.core.stage import Stage

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "assistant.stages"


@dataclass(frozen=True)
class Backend:
    kind: str
    name: str
    target: str  # "package.module:Class"
    origin: str  # "built-in" or the distribution that provides the entry point

    @cached_property
    def cls(self) -> type[Stage]:
        """The stage class, imported now if it was not yet."""
        return import_stage(self.target, self.kind, self.name)


def import_stage(target: str, kind: str, name: str) -> type[Stage]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = (exc.name or module_name).split(".")[0]
        raise MissingModelError(
            f"{kind} backend {name!r} needs the Python package {missing!r}, which is not "
            f"installed: pip install {missing.replace('_', '-')}"
        ) from exc
    cls = checked_stage_class(getattr(module, attr, None), target)
    if (cls.kind, cls.backend) != (kind, name):
        raise TypeError(
            f"{target} is listed as {kind}/{name} but declares {cls.kind}/{cls.backend}"
        )
    return cls


def checked_stage_class(cls: object, target: str) -> type[Stage]:
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise TypeError(f"{target} is not a Stage subclass")
    for attr in ("kind", "backend", "consumes", "produces"):
        if not hasattr(cls, attr):
            raise TypeError(f"stage class {cls.__qualname__} does not set {attr!r}")
    return cls


@dataclass
class Registry:
    """`builtin` maps (kind, backend) to `module:Class`; `kinds` describes the known kinds, in
    pipeline order (plugins may add kinds of their own)."""

    builtin: Mapping[tuple[str, str], str] = field(default_factory=dict)
    kind_descriptions: Mapping[str, str] = field(default_factory=dict)
    backends: dict[tuple[str, str], Backend] = field(default_factory=dict)
    plugin_errors: list[str] = field(default_factory=list)
    _discovered: bool = False

    def __post_init__(self) -> None:
        for (kind, name), target in self.builtin.items():
            self._put(Backend(kind, name, target, "built-in"))

    def add(self, cls: type[Stage], origin: str) -> None:
        """Add a class that is already imported (a test's fake, a plain-named plugin)."""
        target = f"{cls.__module__}:{cls.__qualname__}"
        backend = Backend(cls.kind, cls.backend, target, origin)
        backend.__dict__["cls"] = cls  # already imported: fill the cached_property
        self._put(backend)

    def _put(self, backend: Backend) -> None:
        key = (backend.kind, backend.name)
        existing = self.backends.get(key)
        if existing is not None and existing.target != backend.target:
            raise ValueError(
                f"backend {backend.kind}/{backend.name} from {backend.origin} clashes with the "
                f"one from {existing.origin}"
            )
        self.backends[key] = backend

    def discover(self) -> None:
        """Read the `assistant.stages` entry points (once). A broken plugin is reported, not
        fatal: the other backends stay usable."""
        if self._discovered:
            return
        self._discovered = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            origin = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value
            try:
                self._add_entry_point(ep, origin)
            except Exception as exc:  # any plugin failure is reported the same way
                message = f"plugin {ep.name!r} ({origin}) could not be loaded: {exc}"
                self.plugin_errors.append(message)
                log.warning(message)

    def _add_entry_point(self, ep: EntryPoint, origin: str) -> None:
        kind, dot, name = ep.name.partition(".")
        if dot:
            self._put(Backend(kind, name, ep.value, origin))
            return
        self.add(checked_stage_class(ep.load(), ep.value), origin)

    def kinds(self) -> list[str]:
        self.discover()
        extra = sorted({kind for kind, _ in self.backends} - set(self.kind_descriptions))
        return [*self.kind_descriptions, *extra]

    def for_kind(self, kind: str) -> list[Backend]:
        self.discover()
        return sorted((b for (k, _), b in self.backends.items() if k == kind), key=lambda b: b.name)

    def get(self, kind: str, backend: str) -> Backend | None:
        self.discover()
        return self.backends.get((kind, backend))
