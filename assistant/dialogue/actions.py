"""Custom actions written with rasa-sdk, run in-process or on a rasa-sdk action server.

A skill's `actions.py` holds `rasa_sdk.Action` subclasses. By default they run in this process
through rasa-sdk's own `ActionExecutor`, given the same payload an action server receives; with an
endpoint URL they run on a rasa-sdk action server over HTTP (`POST /webhook`). Either way the
result is Rasa events (turned into our `Event`s) and the texts the action uttered. A failure or a
timeout is an `ActionError`, which the responder turns into a short apology.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import pkgutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from assistant.dialogue.events import JSON, Event, UnknownEventError, event_from_json
from assistant.dialogue.responses import Button, with_buttons
from assistant.skills.loader import SkillSet, SlotMapping

log = logging.getLogger(__name__)


class ActionError(Exception):
    """A custom action failed, timed out or could not be reached."""


@dataclass(frozen=True)
class Utterance:
    """One `dispatcher.utter_message` call: plain text, or a template with its extra values;
    `data` holds what a client may show besides the words (buttons, image, custom)."""

    text: str | None = None
    template: str | None = None
    values: tuple[tuple[str, Any], ...] = ()
    data: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ActionResult:
    events: tuple[Event, ...]
    utterances: tuple[Utterance, ...]  # in the order the action uttered them


class ActionRunner(Protocol):
    def names(self) -> set[str]: ...

    async def run(self, name: str, tracker: JSON, domain: JSON) -> ActionResult: ...


def domain_json(skills: SkillSet) -> JSON:
    """The skills' domain in the shape rasa-sdk expects in an action call."""
    return {
        "version": "3.1",
        "intents": list(skills.intents),
        "entities": sorted({s.entity for e in skills.examples for s in e.entities}),
        "slots": {
            slot.name: {
                "type": slot.type,
                "initial_value": slot.initial_value,
                "mappings": [_mapping_json(m) for m in slot.mappings],
            }
            for slot in skills.slots.values()
        },
        "responses": {name: list(vs) for name, vs in skills.response_variants.items()},
        "forms": {
            form.name: {
                "required_slots": list(form.required_slots),
                **({"ignored_intents": list(form.ignored_intents)} if form.ignored_intents else {}),
            }
            for form in skills.forms.values()
        },
    }


def _mapping_json(mapping: SlotMapping) -> JSON:
    data: JSON = {"type": mapping.type}
    if mapping.entity:
        data["entity"] = mapping.entity
    if mapping.intent:
        data["intent"] = list(mapping.intent)
    if mapping.not_intent:
        data["not_intent"] = list(mapping.not_intent)
    if mapping.value is not None:
        data["value"] = mapping.value
    if mapping.conditions:
        data["conditions"] = [
            {"active_loop": form, **({"requested_slot": slot} if slot else {})}
            for form, slot in mapping.conditions
        ]
    return data


def parse_result(name: str, events: Sequence[JSON], responses: Sequence[JSON]) -> ActionResult:
    parsed: list[Event] = []
    for data in events:
        try:
            parsed.append(event_from_json(data))
        except (UnknownEventError, KeyError, TypeError, ValueError) as exc:
            # An event we do not model (e.g. "followup") is history only: skip it, say so.
            log.warning("action %s returned an event we ignore (%s): %s", name, exc, data)
    utterances = tuple(_utterance(r) for r in responses if any(r.get(k) for k in _SAID_KEYS))
    return ActionResult(tuple(parsed), utterances)


def _utterance(response: JSON) -> Utterance:
    """One rasa-sdk response: its words (buttons numbered after a plain text) and its data."""
    template = str(response["response"]) if response.get("response") else None
    buttons = [
        Button(str(b.get("title", "")), str(b.get("payload", b.get("title", ""))))
        for b in response.get("buttons") or []
        if isinstance(b, dict)
    ]
    data: list[tuple[str, Any]] = [
        (key, response[key]) for key in ("image", "attachment", "elements") if response.get(key)
    ]
    if response.get("custom"):
        data.append(("custom", response["custom"]))
    if buttons:
        data.append(("buttons", [{"title": b.title, "payload": b.payload} for b in buttons]))
    return Utterance(
        text=None if template else with_buttons(str(response.get("text") or ""), buttons),
        template=template,
        values=tuple((str(k), v) for k, v in response.items() if k not in _RESPONSE_KEYS and v),
        data=() if template else tuple(data),
    )


_SAID_KEYS = ("text", "response", "buttons", "image", "custom", "attachment", "elements")


# Keys of a rasa-sdk response that are not template values (`utter_message(response=, **kwargs)`
# sends the kwargs alongside these).
_RESPONSE_KEYS = frozenset(
    {
        "text",
        "response",
        "template",
        "buttons",
        "elements",
        "custom",
        "image",
        "attachment",
        "json_message",
        "recipient_id",
    }
)


def _action_call(name: str, tracker: JSON, domain: JSON) -> JSON:
    return {
        "next_action": name,
        "sender_id": tracker.get("sender_id", ""),
        "tracker": tracker,
        "domain": domain,
        "version": "3.1",
    }


def import_actions_module(path: Path, module_name: str) -> ModuleType:
    """Import a skill's actions.py, or its `actions/` package with every module in it (as
    rasa-sdk's action server does), under a stable module name (one import per process)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    package = path.is_dir()
    init = path / "__init__.py" if package else path
    spec = importlib.util.spec_from_file_location(
        module_name, init, submodule_search_locations=[str(path)] if package else None
    )
    if spec is None or spec.loader is None:
        raise ActionError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
        if package:
            for info in pkgutil.walk_packages([str(path)], prefix=f"{module_name}."):
                importlib.import_module(info.name)
    except Exception as exc:
        for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
            del sys.modules[name]
        raise ActionError(
            f"{path}: importing the skill's actions failed: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _with_submodules(module: ModuleType) -> list[ModuleType]:
    """A package's imported modules, the package first; a plain module alone."""
    if not hasattr(module, "__path__"):
        return [module]
    prefix = module.__name__ + "."
    return [module, *(m for n, m in sorted(sys.modules.items()) if n.startswith(prefix))]


class InProcessActions:
    """Runs actions through rasa-sdk's `ActionExecutor` inside this process."""

    def __init__(self, modules: Sequence[ModuleType], timeout_s: float) -> None:
        from rasa_sdk import Action
        from rasa_sdk.executor import ActionExecutor

        self.timeout_s = timeout_s
        self.executor = ActionExecutor()
        # Registering classes one by one: `register_package` calls sys.exit on an ImportError.
        origins: dict[str, str] = {}
        for module in (m for package in modules for m in _with_submodules(package)):
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if not issubclass(cls, Action) or cls.__module__ != module.__name__:
                    continue
                if inspect.isabstract(cls) or "name" not in cls.__dict__:
                    continue  # a shared base class, not an action
                name = str(cls().name())  # type: ignore[attr-defined]
                if name in origins:
                    raise ActionError(
                        f"action {name} is defined twice: in {origins[name]} and in "
                        f"{module.__name__}"
                    )
                origins[name] = module.__name__
                self.executor.register_action(cls)

    def names(self) -> set[str]:
        return set(self.executor.actions)

    async def run(self, name: str, tracker: JSON, domain: JSON) -> ActionResult:
        try:
            result = await asyncio.wait_for(
                self.executor.run(_action_call(name, tracker, domain)), self.timeout_s
            )
        except TimeoutError:
            raise ActionError(f"action {name} took longer than {self.timeout_s:g} s") from None
        except Exception as exc:
            raise ActionError(f"action {name} failed: {type(exc).__name__}: {exc}") from exc
        if result is None:
            raise ActionError(f"action {name} returned nothing")
        return parse_result(name, result.events, result.responses)


class HttpActions:
    """Runs actions on a rasa-sdk action server (`python -m rasa_sdk --actions MODULE`)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._names: set[str] = set()
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def connect(self) -> None:
        """Ask the server which actions it has; a server that is down is a clear error."""
        try:
            response = await self.client.get(f"{self.url}/actions")
            response.raise_for_status()
        except Exception as exc:
            raise ActionError(
                f"action server {self.url} is not reachable ({exc}); start it "
                "with `python -m rasa_sdk --actions MODULE`"
            ) from exc
        self._names = {item["name"] for item in response.json()}

    def names(self) -> set[str]:
        return self._names

    async def run(self, name: str, tracker: JSON, domain: JSON) -> ActionResult:
        try:
            response = await self.client.post(
                f"{self.url}/webhook", json=_action_call(name, tracker, domain)
            )
        except Exception as exc:
            raise ActionError(
                f"action {name}: the action server did not answer ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            detail = _error_detail(response.text)
            raise ActionError(
                f"action {name} failed on the server ({response.status_code}): {detail}"
            )
        body: dict[str, Any] = response.json()
        return parse_result(name, body.get("events") or [], body.get("responses") or [])

    async def close(self) -> None:
        await self.client.aclose()


def _error_detail(text: str) -> str:
    import json

    try:
        return str(json.loads(text).get("error", text))[:200]
    except ValueError:
        return text[:200]
