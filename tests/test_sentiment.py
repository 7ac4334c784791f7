"""The sentiment stage on the real models: VADER's shipped lexicon and the classifier trained on
MiniLM embeddings of the project's labelled examples."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.core.stage import StageContext
from assistant.messages import Message, Sentiment, Transcript
from assistant.nlu.labelled import load_labelled
from assistant.stages import registry
from assistant.stages.sentiment.base import SentimentStage, label_and_score
from assistant.stages.sentiment.embedding import (
    DEFAULT_EXAMPLES,
    EmbeddingSentiment,
    EmbeddingSentimentParams,
)
from assistant.stages.sentiment.vader import VaderParams, VaderSentiment
from tests.chat import chat

ROOT = Path(__file__).resolve().parents[1]
TEST_SET = ROOT / "benchmarks" / "data" / "sentiment_test.yml"

# Plain requests, some with words a lexicon reads as feelings ("please", "stop", "no", "kill").
NEUTRAL_COMMANDS = [
    "play the next track",
    "set a timer",
    "set a timer for ten minutes",
    "what time is it?",
    "what's the date",
    "add eggs to my shopping list",
    "please put milk on the list",
    "what's 12 times 4",
    "convert 3 miles to kilometers",
    "stop the timer",
    "no, make it five minutes",
    "how long is left on the pasta timer",
    "read me my shopping list",
]


@pytest.fixture(scope="module", params=["vader", "embedding"])
def stage(request: pytest.FixtureRequest) -> Iterator[SentimentStage]:
    stage: SentimentStage
    if request.param == "vader":
        stage = VaderSentiment(name="sentiment", params=VaderParams(), context=StageContext())
    else:
        stage = EmbeddingSentiment(
            name="sentiment", params=EmbeddingSentimentParams(), context=StageContext()
        )
    asyncio.run(stage.start())
    yield stage
    asyncio.run(stage.stop())


def judge(stage: SentimentStage, text: str, turn_id: int = 1) -> tuple[Sentiment, Transcript]:
    transcript = Transcript(session_id="s", turn_id=turn_id, text=text)

    async def run() -> list[Message]:
        return [output async for output in stage.process(transcript)]

    outputs = asyncio.run(run())
    # The sentiment first, then the very same transcript, unchanged, for the next stage.
    assert len(outputs) == 2
    sentiment, passed_on = outputs
    assert isinstance(sentiment, Sentiment)
    assert passed_on is transcript
    assert (sentiment.session_id, sentiment.turn_id) == ("s", turn_id)
    assert sentiment.backend == stage.backend
    assert -1 <= sentiment.score <= 1
    return sentiment, transcript


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("ugh, this is so annoying, what time is it?", "negative"),
        ("this is useless", "negative"),
        ("I hate this, you're terrible", "negative"),
        ("wrong again, this is so frustrating", "negative"),
        ("thanks, that's wonderful", "positive"),
        ("you're awesome, I love it", "positive"),
        ("great, that worked perfectly", "positive"),
    ],
)
def test_clear_cases(stage: SentimentStage, text: str, label: str) -> None:
    sentiment, _ = judge(stage, text)
    assert sentiment.label == label
    assert (sentiment.score < 0) if label == "negative" else (sentiment.score > 0)


@pytest.mark.parametrize("text", NEUTRAL_COMMANDS)
def test_neutral_commands_stay_neutral(stage: SentimentStage, text: str) -> None:
    sentiment, _ = judge(stage, text)
    assert sentiment.label == "neutral"
    assert abs(sentiment.score) < 0.05


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_is_neutral(stage: SentimentStage, text: str) -> None:
    sentiment, transcript = judge(stage, text)
    assert (sentiment.label, sentiment.score) == ("neutral", 0.0)
    assert transcript.text == text


def test_the_classifier_reads_whole_sentences() -> None:
    """Where a lexicon goes by single words (VADER finds nothing negative in "you never
    understand me", and "kill" very negative), the classifier reads the sentence."""
    stage = EmbeddingSentiment(
        name="sentiment", params=EmbeddingSentimentParams(), context=StageContext()
    )
    asyncio.run(stage.start())
    cases = {
        "you never understand me": "negative",
        "are you even listening to me?": "negative",
        "kill that alarm": "neutral",
    }
    for text, label in cases.items():
        assert judge(stage, text)[0].label == label, text


def test_band_edges_and_score_scale() -> None:
    assert label_and_score(0.0, -0.3, 0.45) == ("neutral", 0.0)
    assert label_and_score(-0.3, -0.3, 0.45) == ("neutral", 0.0)
    assert label_and_score(0.45, -0.3, 0.45) == ("neutral", 0.0)
    assert label_and_score(-1.0, -0.3, 0.45) == ("negative", -1.0)
    assert label_and_score(1.0, -0.3, 0.45) == ("positive", 1.0)
    label, score = label_and_score(-0.65, -0.3, 0.45)
    assert label == "negative" and score == pytest.approx(-0.5)


def test_backends_are_registered() -> None:
    assert registry.get("sentiment", "vader") is not None
    assert registry.get("sentiment", "embedding") is not None


def test_training_examples_have_every_label_and_many_commands() -> None:
    examples = load_labelled(DEFAULT_EXAMPLES)
    assert sorted(examples) == ["negative", "neutral", "positive"]
    assert len(examples["neutral"]) >= max(len(examples["negative"]), len(examples["positive"]))


def normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def test_benchmark_set_is_held_out() -> None:
    training = {normalized(t) for texts in load_labelled(DEFAULT_EXAMPLES).values() for t in texts}
    held_out = load_labelled(TEST_SET)
    assert sum(len(texts) for texts in held_out.values()) >= 60
    assert sorted(held_out) == ["negative", "neutral", "positive"]
    overlap = [t for texts in held_out.values() for t in texts if normalized(t) in training]
    assert overlap == []


def test_examples_with_other_labels_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "moods.yml"
    path.write_text("happy: [yay]\nsad: [oh no]\n")
    stage = EmbeddingSentiment(
        name="sentiment", params=EmbeddingSentimentParams(examples=path), context=StageContext()
    )
    with pytest.raises(ValueError, match=r"moods\.yml: expected examples of exactly the labels"):
        asyncio.run(stage.start())


def test_missing_vader_is_a_clear_error(tmp_path: Path) -> None:
    # Hide the package from a child interpreter, as if it were not installed.
    blocker = tmp_path / "vaderSentiment"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
    code = (
        "from assistant.core.stage import StageContext\n"
        "from assistant.stages.sentiment.vader import VaderParams, VaderSentiment\n"
        "VaderSentiment(name='s', params=VaderParams(), context=StageContext()).load()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin"},
    )
    assert result.returncode == 1
    assert "MissingModelError" in result.stderr
    assert "pip install vaderSentiment" in result.stderr


def test_chat_reads_feelings_with_the_classifier_by_default(assistant_bin: str) -> None:
    """The default pipeline's sentiment is the MiniLM classifier (0.92 on the held-out set,
    VADER 0.83): `assistant chat` hears the complaint a lexicon misses, and calms its tone."""
    turns = chat(assistant_bin, ["you never understand me", "kill that alarm"])
    assert turns[0]["sentiment"]["label"] == "negative", turns[0]["sentiment"]
    assert turns[0]["tone"]["style"] == "calm", turns[0]["tone"]
    assert turns[1]["sentiment"]["label"] == "neutral", turns[1]["sentiment"]
