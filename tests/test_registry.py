"""Stage registry: built-ins listed in one static table, plugins as entry points; a backend is
imported when it is used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.core.registry import Registry
from assistant.stages import BUILTIN_BACKENDS, KINDS, registry

PLUGIN_CODE = '''
from typing import ClassVar
from assistant.messages import Parse, Reply
from assistant.core.stage import Stage


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
    (tmp_path / "lazy_plugin.py").write_text(PLUGIN_CODE.replace('"mirror"', '"lazy"'))
    (dist_info / "entry_points.txt").write_text(
        "[assistant.stages]\nmirror = mirror_plugin:Mirror\nbroken = mirror_plugin:Missing\n"
        "respond.lazy = lazy_plugin:Mirror\n"
    )
    return tmp_path


def test_every_built_in_backend_is_listed_where_its_class_is() -> None:
    assert registry.kinds()[: len(KINDS)] == list(KINDS)
    for (kind, name), target in BUILTIN_BACKENDS.items():
        backend = registry.get(kind, name)
        assert backend is not None and backend.target == target
        assert (backend.cls.kind, backend.cls.backend) == (kind, name)  # imports it


def test_a_kind_dot_backend_entry_point_is_imported_only_when_used(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.delitem(sys.modules, "lazy_plugin", raising=False)
    fresh = Registry()
    lazy = fresh.get("respond", "lazy")
    assert lazy is not None and lazy.origin == "mirror-plugin 1.2"
    assert "lazy_plugin" not in sys.modules
    assert lazy.cls.backend == "lazy"
    assert "lazy_plugin" in sys.modules


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
