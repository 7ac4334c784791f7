"""Fitted models kept on disk (`assistant.nlu.fitted`): the numpy halves give scikit-learn's
numbers, a start loads what an earlier one fitted, and changed examples are fitted again."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.core.stage import StageContext
from assistant.nlu import fitted
from assistant.nlu.fitted import LinearClassifier, Tfidf
from assistant.skills.loader import load_skills
from assistant.stages.nlu.classifier import ClassifierParams
from assistant.stages.nlu.tfidf import TfidfIntentClassifier

TEXTS = [e.text for e in load_skills((BUILTIN_SKILLS_DIR,)).examples]
INTENTS = [e.intent for e in load_skills((BUILTIN_SKILLS_DIR,)).examples]
ODD = ["Set a TIMER  for 10 min!!", "a", "what's \t the weather in São Paulo", "", "i x", "ünïcödé"]


@pytest.mark.parametrize(
    ("analyzer", "ngrams", "extra"),
    [("char_wb", (2, 4), {}), ("word", (1, 2), {"token_pattern": r"(?u)\b\w+\b"})],
)
def test_tfidf_transform_is_scikit_learns(
    analyzer: str, ngrams: tuple[int, int], extra: dict[str, str]
) -> None:
    ours = Tfidf.fit(TEXTS, analyzer, ngrams, **extra)
    theirs = TfidfVectorizer(
        analyzer=analyzer, ngram_range=ngrams, lowercase=True, sublinear_tf=True, **extra
    ).fit(TEXTS)
    texts = TEXTS + ODD
    assert np.allclose(ours.transform(texts), theirs.transform(texts).toarray(), atol=1e-12)
    again = Tfidf.from_arrays(ours.arrays("x_"), "x_")
    assert np.array_equal(again.transform(ODD), ours.transform(ODD))


@pytest.mark.parametrize("binary", [False, True])
def test_linear_probabilities_are_scikit_learns(binary: bool) -> None:
    features = Tfidf.fit(TEXTS, "char_wb", (2, 4)).transform(TEXTS)
    labels = [("a" if i == INTENTS[0] else "b") for i in INTENTS] if binary else INTENTS
    ours = LinearClassifier.fit(features, labels, regularization=10.0, class_weight="balanced")
    theirs = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced")
    theirs.fit(features, labels)
    assert ours.classes == list(theirs.classes_)
    assert np.allclose(ours.predict_proba(features), theirs.predict_proba(features), atol=1e-12)


def intent_stage(skills: Path) -> TfidfIntentClassifier:
    stage = TfidfIntentClassifier(
        name="nlu", params=ClassifierParams(), context=StageContext(skill_dirs=(skills,))
    )
    stage.load()
    return stage


def test_a_start_loads_what_an_earlier_start_fitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = intent_stage(BUILTIN_SKILLS_DIR)
    (saved,) = (tmp_path / "cache" / "assistant" / "fitted").glob("intents-*.npz")

    def no_fitting(*args: object, **kwargs: object) -> None:
        raise AssertionError("fitted again")

    with monkeypatch.context() as patched:
        patched.setattr(LinearClassifier, "fit", no_fitting)
        patched.setattr(Tfidf, "fit", no_fitting)
        second = intent_stage(BUILTIN_SKILLS_DIR)
    for text in ["set a timer for ten minutes", "what's on my shopping list", "hi"]:
        assert np.array_equal(first.scores(text)[0], second.scores(text)[0])
        assert first.classify(text) == second.classify(text)
    assert list(saved.parent.glob("intents-*")) == [saved]  # and no partial file


def test_changed_examples_are_fitted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    skills = tmp_path / "skills"
    shutil.copytree(BUILTIN_SKILLS_DIR, skills)
    intent_stage(skills)
    nlu = next(skills.glob("*/nlu.yml"))
    text = nlu.read_text()
    marker = "  examples: |\n"
    assert marker in text
    nlu.write_text(text.replace(marker, marker + "    - a brand new way to say it\n", 1))
    load_skills.cache_clear()  # as a new process reads them
    intent_stage(skills)
    assert len(list((tmp_path / "cache" / "assistant" / "fitted").glob("intents-*.npz"))) == 2


def test_an_unreadable_fitted_model_is_fitted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = intent_stage(BUILTIN_SKILLS_DIR)
    (saved,) = (tmp_path / "cache" / "assistant" / "fitted").glob("intents-*.npz")
    saved.write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING, logger=fitted.__name__):
        second = intent_stage(BUILTIN_SKILLS_DIR)
    assert "ignoring the fitted model" in caplog.text
    assert first.classify("set a timer") == second.classify("set a timer")
    assert np.load(saved)["intents_coef"].shape[0] == len(first.labels)


def test_a_cache_that_cannot_be_written_only_costs_a_refit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    with caplog.at_level(logging.WARNING):
        stage = intent_stage(BUILTIN_SKILLS_DIR)
    assert "cannot keep the fitted model" in caplog.text
    assert "cannot keep the entity model" in caplog.text
    intent, _ = stage.classify("add eggs to my shopping list")
    assert intent.name == "add_to_list"
    assert [e.entity for e in stage.entity_extractor.extract("add eggs to my list")] == ["item"]
