"""Where each skill's custom actions run: on the action server its `endpoints.yml` names, or in
this process. The responder's `action_endpoint` parameter, when set, sends them all to one server
(as before Rasa projects could bring their own)."""

from __future__ import annotations

from assistant.dialogue.actions import (
    ActionResult,
    HttpActions,
    InProcessActions,
    import_actions_module,
)
from assistant.dialogue.events import JSON
from assistant.skills.loader import SkillSet


class RoutedActions:
    """Runs an action on the first action server that has it, else in this process."""

    def __init__(self, local: InProcessActions, servers: list[HttpActions]) -> None:
        self.local = local
        self.servers = servers

    async def connect(self) -> None:
        for server in self.servers:
            await server.connect()

    async def close(self) -> None:
        for server in self.servers:
            await server.close()

    def names(self) -> set[str]:
        return self.local.names().union(*(s.names() for s in self.servers))

    async def run(self, name: str, tracker: JSON, domain: JSON) -> ActionResult:
        for server in self.servers:
            if name in server.names():
                return await server.run(name, tracker, domain)
        return await self.local.run(name, tracker, domain)


def skill_actions(skills: SkillSet, endpoint: str | None, timeout_s: float) -> RoutedActions:
    if endpoint:
        return RoutedActions(InProcessActions([], timeout_s), [HttpActions(endpoint, timeout_s)])
    urls = list(dict.fromkeys(s.action_endpoint for s in skills.skills if s.action_endpoint))
    modules = [
        import_actions_module(skill.actions_module, f"assistant_skill_actions.{skill.name}")
        for skill in skills.skills
        if skill.actions_module is not None and not skill.action_endpoint
    ]
    return RoutedActions(
        InProcessActions(modules, timeout_s), [HttpActions(url, timeout_s) for url in urls]
    )
