"""Configuration errors: each names the file and the key, in one line, without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.core.config import parse_overrides
from assistant.core.errors import ConfigError, MissingModelError
from assistant.core.registry import Backend
from assistant.pipeline import plan_pipeline
from assistant.stages import registry

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def plan_text(tmp_path: Path, pipeline: str, overrides: dict[str, str] | None = None) -> None:
    path = write(tmp_path, "p.yaml", pipeline)
    plan_pipeline(load_pipeline(path), path, load_models(DEFAULT_MODELS), DEFAULT_MODELS, overrides)


def plan_model(tmp_path: Path, models: Path, kind: str, model: str) -> None:
    """Plan a one-stage pipeline of one catalog model: where its parameters are checked."""
    stages = f"  - {{kind: {kind}, model: {model}}}\n"
    pipeline = write(tmp_path, "p.yaml", f"input: text\nstages:\n{stages}")
    plan_pipeline(load_pipeline(pipeline), pipeline, load_models(models), models)


def test_the_shipped_configuration_is_valid() -> None:
    catalog = load_models(DEFAULT_MODELS)
    assert "intent-minilm" in catalog["nlu"]
    for pipeline in sorted((ROOT / "pipelines").glob("*.yaml")):
        load_pipeline(pipeline)


def test_a_typo_in_a_parameter_names_the_key_and_the_expected_ones(tmp_path: Path) -> None:
    """Parameters are checked by the backend's own Params when a pipeline uses the model (reading
    the catalog imports no backend)."""
    path = write(
        tmp_path,
        "models.yaml",
        """
extends: default
nlu:
  mine:
    backend: embedding
    params: {similarity_treshold: 0.5}
""",
    )
    load_models(path)
    with pytest.raises(ConfigError) as error:
        plan_model(tmp_path, path, "nlu", "mine")
    message = str(error.value)
    assert message.startswith(f"{path}: nlu.mine.params.similarity_treshold: unknown key")
    assert "similarity_threshold" in message
    assert "\n" not in message


def test_reading_and_validating_config_imports_no_backend() -> None:
    code = (
        "import sys\n"
        "from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, "
        "resolve_pipeline_path\n"
        "load_models(DEFAULT_MODELS)\n"
        "for name in ('text', 'voice'):\n"
        "    load_pipeline(resolve_pipeline_path(name))\n"
        "print(sorted(m for m in sys.modules if m.startswith('assistant.stages.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_backend_whose_package_is_missing_fails_when_used_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_missing.py").write_text(
        "import no_such_package_here  # noqa: F401\n"
        "from assistant.core.stage import Stage\n"
        "class Needy(Stage): ...\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        registry.backends,
        ("nlu", "needy"),
        Backend("nlu", "needy", "needs_missing:Needy", "tests"),
    )
    models = write(tmp_path, "models.yaml", "nlu:\n  needy: {backend: needy}\n")
    load_models(models)  # listed, not imported: reading config still works
    with pytest.raises(MissingModelError, match="pip install no-such-package-here"):
        plan_model(tmp_path, models, "nlu", "needy")


def test_a_typo_in_a_model_key(tmp_path: Path) -> None:
    path = write(tmp_path, "models.yaml", "nlu:\n  mine:\n    bakend: embedding\n")
    with pytest.raises(ConfigError, match=r"nlu\.mine\.(bakend|backend)"):
        load_models(path)


def test_an_unknown_stage_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "models.yaml", "nlux:\n  mine: {backend: embedding}\n")
    with pytest.raises(ConfigError, match=r"nlux: unknown stage kind \(expected extends or one"):
        load_models(path)


def test_an_unknown_backend_lists_the_available_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "models.yaml", "nlu:\n  mine: {backend: embeding}\n")
    with pytest.raises(
        ConfigError,
        match=r"nlu\.mine\.backend: unknown backend 'embeding'.*"
        r"available: embedding, tfidf",
    ):
        load_models(path)


def test_a_bad_parameter_value(tmp_path: Path) -> None:
    path = write(
        tmp_path, "models.yaml", "nlu:\n  mine: {backend: embedding, params: {min_confidence: 3}}\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"nlu\.mine\.params\.min_confidence: .*less than or "
        r"equal to 1",
    ):
        plan_model(tmp_path, path, "nlu", "mine")


def test_invalid_yaml_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "models.yaml", "nlu:\n  mine: {backend: [embedding\n")
    with pytest.raises(ConfigError, match=r"models\.yaml: line \d+: invalid YAML"):
        load_models(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_models(tmp_path / "nope.yaml")


def test_a_type_graph_gap_is_found_before_anything_loads(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        plan_text(tmp_path, "input: text\nstages:\n  - {kind: respond, model: templates}\n")
    assert "stages.0 (respond: templates): consumes DialogueState or Parse" in str(error.value)
    assert "the text input gives Transcript" in str(error.value)


def test_a_pipeline_key_typo(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"p\.yaml: stages\.0\.modle: unknown key \(did you "
        r"mean 'model'\? expected one of: kind, model, name\)",
    ):
        plan_text(tmp_path, "input: text\nstages:\n  - {kind: nlu, modle: intent-minilm}\n")


def test_an_unknown_model_in_a_pipeline(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"stages\.0\.model: unknown nlu model 'intent-bert'.*"
        r"intent-minilm",
    ):
        plan_text(tmp_path, "input: text\nstages:\n  - {kind: nlu, model: intent-bert}\n")


def test_overrides(tmp_path: Path) -> None:
    pipeline = (
        "input: text\nstages:\n  - {kind: nlu, model: intent-minilm}\n"
        "  - {kind: respond, model: templates}\n"
    )
    plan_text(tmp_path, pipeline, {"nlu": "intent-tfidf"})
    with pytest.raises(ConfigError, match=r"--set nlu: unknown nlu model 'nope'"):
        plan_text(tmp_path, pipeline, {"nlu": "nope"})
    with pytest.raises(ConfigError, match=r"--set tts=\.\.\.: pipeline 'p' has no stage 'tts'"):
        plan_text(tmp_path, pipeline, {"tts": "piper"})
    with pytest.raises(ConfigError, match="expected KIND=MODEL"):
        parse_overrides(["nlu"])
    assert parse_overrides(["nlu = intent-tfidf"]) == {"nlu": "intent-tfidf"}


def test_pipeline_names_resolve(tmp_path: Path) -> None:
    assert resolve_pipeline_path("text") == ROOT / "pipelines" / "text.yaml"
    with pytest.raises(ConfigError, match="no pipeline named 'txet'"):
        resolve_pipeline_path("txet")


def test_the_cli_reports_a_typo_in_one_line_and_exits_2(tmp_path: Path, assistant_bin: str) -> None:
    bad = DEFAULT_MODELS.read_text().replace("similarity_threshold", "similarity_treshold")
    path = write(tmp_path, "models.yaml", bad)
    result = subprocess.run(
        [assistant_bin, "chat", "--models", str(path), "--once", "hi"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "nlu.intent-minilm.params.similarity_treshold: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_catalog_can_extend_another(tmp_path: Path) -> None:
    path = write(tmp_path, "models.yaml", """
extends: default
nlu:
  intent-minilm: {backend: embedding, params: {similarity_threshold: 0.6}}
  strict-tfidf: {backend: tfidf, params: {min_confidence: 0.5}}
""")
    catalog = load_models(path)
    assert catalog["nlu"]["intent-minilm"].params == {"similarity_threshold": 0.6}
    assert "intent-tfidf" in catalog["nlu"] and "strict-tfidf" in catalog["nlu"]
    assert "templates" in catalog["respond"]
    loop = write(tmp_path, "loop.yaml", "extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="in a loop"):
        load_models(loop)
