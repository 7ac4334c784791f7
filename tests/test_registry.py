"""Stage registry: built-ins register themselves, plugins arrive through entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.stage import KINDS, Registry, registry

PLUGIN_CODE = '''
from typing import ClassVar
from assistant.messages import Parse, Reply
from assistant.stage import Stage


class Mirror(Stage):
    """Answers with the user's words reversed."""

    kind: ClassVar[str] = "respond"
    backend: ClassVar[str] = "mirror"
    consumes = (Parse,)
    produces = (Reply,)

    async def process(self, message):
        yield Reply(session_id=message.session_id, turn_id=message.turn_id,
                    text=message.text[::-1])
'''


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """An installed-looking distribution: a package plus dist-info with entry_points.txt."""
    (tmp_path / "mirror_plugin").mkdir()
    (tmp_path / "mirror_plugin" / "__init__.py").write_text(PLUGIN_CODE)
    dist_info = tmp_path / "mirror_plugin-1.2.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mirror-plugin\nVersion: 1.2\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[assistant.stages]\nmirror = mirror_plugin:Mirror\nbroken = mirror_plugin:Missing\n"
    )
    return tmp_path


def test_built_in_backends_register_themselves() -> None:
    assert registry.get("nlu", "embedding") is not None
    assert registry.get("nlu", "tfidf") is not None
    assert registry.get("respond", "templates") is not None
    assert registry.kinds()[: len(KINDS)] == list(KINDS)


def test_entry_point_plugins_are_discovered(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(plugin_dir))
    fresh = Registry()
    fresh.discover()
    mirror = fresh.get("respond", "mirror")
    assert mirror is not None
    assert mirror.origin == "mirror-plugin 1.2"
    assert mirror.cls.__name__ == "Mirror"
    # A broken entry point is reported, and does not hide the others.
    assert len(fresh.plugin_errors) == 1 and "'broken'" in fresh.plugin_errors[0]


def test_assistant_stages_lists_every_kind_and_plugins(
    plugin_dir: Path, assistant_bin: str
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), *sys.path])}
    result = subprocess.run(
        [assistant_bin, "stages"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for kind in KINDS:
        assert f"{kind}:" in result.stdout
    assert "embedding" in result.stdout and "templates" in result.stdout
    assert "mirror" in result.stdout and "[mirror-plugin 1.2]" in result.stdout
    assert "could not be loaded" in result.stdout  # the broken entry point, as a warning
    assert "Traceback" not in result.stdout + result.stderr


def test_a_backend_clash_is_refused() -> None:
    from assistant.stages.nlu.tfidf import TfidfIntentClassifier

    fresh = Registry()
    fresh.add(TfidfIntentClassifier, "built-in")

    class Impostor(TfidfIntentClassifier):
        pass

    with pytest.raises(ValueError, match="clashes"):
        fresh.add(Impostor, "someone-else 1.0")
