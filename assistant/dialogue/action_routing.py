"""Where each skill's custom actions run: on the action server its `endpoints.yml` names, or in
this process. The responder's `action_endpoint` parameter, when set, sends them all to one server
(as before Rasa projects could bring their own)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from assistant.dialogue.actions import (
    ActionResult,
    HttpActions,
    InProcessActions,
    import_actions_module,
)
from assistant.dialogue.events import JSON
from assistant.skills.loader import Skill, SkillSet


class RoutedActions:
    """Runs an action on the first action server that has it, else in this process: the user's
    skills' actions before the built-in ones of the same name (`local` in that order)."""

    def __init__(self, local: list[InProcessActions], servers: list[HttpActions]) -> None:
        self.local = local
        self.servers = servers

    async def connect(self) -> None:
        for server in self.servers:
            await server.connect()

    async def close(self) -> None:
        for server in self.servers:
            await server.close()

    def names(self) -> set[str]:
        runners: list[InProcessActions | HttpActions] = [*self.local, *self.servers]
        return set().union(*(runner.names() for runner in runners))

    async def run(self, name: str, tracker: JSON, domain: JSON) -> ActionResult:
        for server in self.servers:
            if name in server.names():
                return await server.run(name, tracker, domain)
        for group in self.local:
            if name in group.names():
                return await group.run(name, tracker, domain)
        return await self.local[-1].run(name, tracker, domain)  # its error names the action


def skill_actions(skills: SkillSet, endpoint: str | None, timeout_s: float) -> RoutedActions:
    if endpoint:
        return RoutedActions([InProcessActions([], timeout_s)], [HttpActions(endpoint, timeout_s)])
    urls = list(dict.fromkeys(s.action_endpoint for s in skills.skills if s.action_endpoint))
    local = [s for s in skills.skills if s.actions_module is not None and not s.action_endpoint]
    groups = [
        InProcessActions([_import_actions(s) for s in local if s.user == user], timeout_s)
        for user in (True, False)
    ]
    return RoutedActions(groups, [HttpActions(url, timeout_s) for url in urls])


def _import_actions(skill: Skill) -> ModuleType:
    """A skill's actions under a name of its own (two projects may share a folder name)."""
    assert skill.actions_module is not None
    name = skill.name
    if not skill.builtin:
        name += "_" + hashlib.sha1(str(skill.path.resolve()).encode()).hexdigest()[:8]
    with _project_importable(skill.path):
        return import_actions_module(skill.actions_module, f"assistant_skill_actions.{name}")


@contextmanager
def _project_importable(project: Path) -> Iterator[None]:
    """While a project's actions import, `from actions.utils import x` or a helper module next
    to actions.py resolves as under `rasa run actions` (started in the project folder). The
    modules found that way are forgotten after: another project may have an `actions` too."""
    root = str(project.resolve())
    before = set(sys.modules)
    sys.path.insert(0, root)
    try:
        yield
    finally:
        sys.path.remove(root)
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(root) and not name.startswith("assistant_skill_actions."):
                del sys.modules[name]
