"""The rest of a Rasa 3.x project besides its domain: training data files (`data/**/*.yml`, or
`nlu.yml`/`rules.yml`/`stories.yml` at the top), `config.yml` and `endpoints.yml`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.skills.domain import read_yaml
from assistant.skills.errors import SkillError
from assistant.skills.nlu_data import NluData, read_nlu
from assistant.skills.notices import unsupported
from assistant.skills.stories import Rule, Story, parse_rules, parse_stories


@dataclass
class ProjectData:
    rules: list[Rule] = field(default_factory=list)
    stories: list[Story] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    action_endpoint: str | None = None


# Policies the assistant follows (issue 13: rules and stories as RulePolicy and MemoizationPolicy
# use them); the others are named in a warning.
SUPPORTED_POLICIES = {"RulePolicy", "MemoizationPolicy", "AugmentedMemoizationPolicy"}
_DATA_KEYS = {"version", "nlu", "rules", "stories"}


def data_files(root: Path) -> list[Path]:
    """The training data: every YAML file under `data/`, and the files at the top that the
    assistant's own layout uses."""
    files = [root / n for n in ("nlu.yml", "rules.yml", "stories.yml") if (root / n).is_file()]
    data = root / "data"
    if data.is_dir():
        files += sorted(p for p in data.rglob("*") if p.suffix in (".yml", ".yaml"))
    return files


def read_project(root: Path, nlu: NluData, into: ProjectData) -> None:
    for path in data_files(root):
        content = read_yaml(path)
        for key in content:
            if key == "responses":
                unsupported(path, "responses", "responses belong in the domain; these are ignored")
            elif key not in _DATA_KEYS:
                unsupported(path, str(key), "it is ignored")
        read_nlu(path, content.get("nlu"), nlu)
        into.rules.extend(parse_rules(path, content.get("rules")))
        into.stories.extend(parse_stories(path, content.get("stories")))
    for name in ("config.yml", "config.yaml"):
        if (root / name).is_file():
            into.config = read_config(root / name)
            break
    for name in ("endpoints.yml", "endpoints.yaml"):
        if (root / name).is_file():
            into.action_endpoint = read_endpoints(root / name)
            break


def read_config(path: Path) -> dict[str, Any]:
    """config.yml: the assistant has its own NLU and follows rules and stories itself; what
    config.yml asks for beyond that is named in a warning."""
    config = read_yaml(path)
    for key, value in config.items():
        if key in ("recipe", "assistant_id", "version"):
            continue
        if key == "language":
            if str(value).lower() not in ("en", "en_us", "en-us"):
                unsupported(path, f"language {value}", "the assistant's models understand English")
        elif key == "pipeline":
            if value:
                unsupported(
                    path,
                    "pipeline",
                    "the assistant's own intent and entity models are trained "
                    "on the project's NLU data instead",
                )
        elif key == "policies":
            _check_policies(path, value)
        else:
            unsupported(path, str(key), "it is ignored")
    return config


def _check_policies(path: Path, policies: Any) -> None:
    for policy in policies or []:
        name = policy.get("name") if isinstance(policy, dict) else policy
        if name not in SUPPORTED_POLICIES:
            unsupported(
                path,
                f"policies: {name}",
                "rules and stories are followed as written; what they "
                "do not cover is answered by the assistant's own chain (forms, actions, "
                "responses, fallback)",
            )
        elif isinstance(policy, dict):
            for option in policy:
                if option != "name":
                    unsupported(path, f"policies: {name}.{option}", "it is ignored")


def read_endpoints(path: Path) -> str | None:
    """endpoints.yml: `action_endpoint.url` is where the custom actions run (`${VAR}` expanded,
    as Rasa does; a url still holding `${` is an error); the other endpoints are named in a
    warning."""
    endpoints = read_yaml(path)
    url: str | None = None
    for key, value in endpoints.items():
        if key != "action_endpoint":
            if value is not None:
                unsupported(path, str(key), "the assistant keeps its own (see the README)")
            continue
        if value is None:
            continue
        if not isinstance(value, dict) or not isinstance(value.get("url"), str):
            raise SkillError(f"{path}: action_endpoint: expected a mapping with a 'url'")
        # Rasa's url names the webhook itself; the action client adds /webhook and /actions.
        url = os.path.expandvars(value["url"]).rstrip("/").removesuffix("/webhook")
        if "${" in url:
            raise SkillError(f"{path}: action_endpoint.url: {url}: set the variable it names")
        for option in value:
            if option != "url":
                unsupported(path, f"action_endpoint.{option}", "it is ignored")
    return url
