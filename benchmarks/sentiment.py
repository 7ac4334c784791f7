"""Sentiment accuracy of both backends on a held-out labelled set, and the latency the sentiment
and tone stages add to a turn of the text pipeline.

Run from the project root:  python -m benchmarks.sentiment [--rounds N] [--calibrate]

Accuracy: every sentence of benchmarks/data/sentiment_test.yml (written for the benchmark, never
trained or calibrated on) is judged by each backend with its default parameters; reported are
accuracy, recall per label, the confusion matrix and the misses.

Latency: the text pipeline, its sentiment stage set to each backend in turn (tone after respond),
runs every test sentence as a turn, `--rounds` times after a warm-up round; each stage's time per
turn (its `StageTiming`s, as `--json` reports them) is summarised as p50/p95. Results go to
benchmarks/results/sentiment.json.

`--calibrate` instead searches each backend's neutral band (negative_below, positive_above) on the
*training* examples (assistant/stages/sentiment/data/sentiment.yml): VADER's polarity directly,
the embedding classifier's by 5-fold cross-validation (a classifier scores its own training
examples too well). The defaults in the backends' Params came from this search.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.core.config import ModelSpec, StageRef
from assistant.core.stage import StageContext
from assistant.nlu.embedder import shared_encoder
from assistant.nlu.labelled import EmbeddingClassifier, load_labelled
from assistant.pipeline import plan_pipeline
from assistant.stages import registry
from assistant.stages.sentiment.base import LABELS, SentimentStage, label_and_score
from assistant.stages.sentiment.embedding import DEFAULT_EXAMPLES
from benchmarks.stats import percentile
from benchmarks.text_turn import stage_timings

TEST_SET = Path(__file__).resolve().parent / "data" / "sentiment_test.yml"
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sentiment.json"
BACKENDS = ("vader", "embedding")
BAND_STEP = 0.05


def load_stage(backend: str) -> SentimentStage:
    """A backend with its default parameters, loaded in this thread."""
    found = registry.get("sentiment", backend)
    assert found is not None, backend
    stage = found.cls(name="sentiment", params=found.cls.Params(), context=StageContext())
    assert isinstance(stage, SentimentStage)
    stage.load()
    return stage


# --- accuracy ------------------------------------------------------------------------------------


def score_labels(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    confusion: dict[str, dict[str, int]] = {t: {p: 0 for p in LABELS} for t in LABELS}
    for t, p in zip(gold, predicted, strict=True):
        confusion[t][p] += 1
    recall = {t: confusion[t][t] / max(1, sum(confusion[t].values())) for t in LABELS}
    correct = sum(confusion[t][t] for t in LABELS)
    return {
        "accuracy": correct / len(gold),
        "balanced_accuracy": statistics.mean(recall.values()),
        "recall": recall,
        "confusion": confusion,
    }


def accuracy(stage: SentimentStage, data: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    gold, predicted, misses = [], [], []
    for label, texts in data.items():
        for text in texts:
            judged, score = stage.judge(text)
            gold.append(label)
            predicted.append(judged)
            if judged != label:
                misses.append({"text": text, "label": label, "got": judged, "score": score})
    return {**score_labels(gold, predicted), "n": len(gold), "misses": misses}


# --- calibration ---------------------------------------------------------------------------------


def cross_validated_polarity(data: Mapping[str, Sequence[str]], folds: int = 5) -> list[float]:
    """Each training example's P(positive) - P(negative) from a classifier not trained on it."""
    encoder = shared_encoder()
    items = [(label, text) for label, texts in data.items() for text in texts]
    polarity = [0.0] * len(items)
    for fold in range(folds):
        train: dict[str, list[str]] = {label: [] for label in data}
        held = [i for i in range(len(items)) if i % folds == fold]
        for i, (label, text) in enumerate(items):
            if i % folds != fold:
                train[label].append(text)
        classifier = EmbeddingClassifier(encoder, train)
        for i, prediction in zip(
            held, classifier.predict([items[i][1] for i in held]), strict=True
        ):
            p = prediction.probabilities
            polarity[i] = p["positive"] - p["negative"]
    return polarity


def best_band(gold: Sequence[str], polarity: Sequence[float]) -> dict[str, Any]:
    """The neutral band with the best accuracy; ties go to the widest band, so that a doubtful
    utterance stays neutral. Accuracy rather than a per-label average: like an assistant's real
    input the examples are mostly plain commands, and calling one of those upset costs more (the
    reply changes) than missing a mild complaint."""
    grid = np.round(np.arange(0, 1, BAND_STEP), 2)
    candidates = []
    for low in -grid:
        for high in grid:
            predicted = [label_and_score(p, float(low), float(high))[0] for p in polarity]
            scores = score_labels(gold, predicted)
            candidates.append((scores["accuracy"], high - low, float(low), float(high), scores))
    best, _, low, high, scores = max(candidates, key=lambda c: c[:4])
    return {
        "negative_below": low,
        "positive_above": high,
        "accuracy": best,
        "recall": scores["recall"],
    }


def calibrate() -> dict[str, Any]:
    data = load_labelled(DEFAULT_EXAMPLES)
    gold = [label for label, texts in data.items() for _ in texts]
    texts = [text for texts in data.values() for text in texts]
    vader = load_stage("vader")
    polarities: dict[str, Callable[[], list[float]]] = {
        "vader": lambda: [vader.polarity(t) for t in texts],
        "embedding": lambda: cross_validated_polarity(data),
    }
    return {backend: best_band(gold, measure()) for backend, measure in polarities.items()}


# --- latency -------------------------------------------------------------------------------------


def with_stage(stages: list[StageRef], ref: StageRef, anchor: str, after: int) -> list[StageRef]:
    """`stages` with `ref` in place of the stage of its kind (the text pipeline has sentiment and
    tone now), or inserted next to the `anchor` kind (`after` 0: before it, 1: after it)."""
    kinds = [stage.kind for stage in stages]
    if ref.kind in kinds:
        stages[kinds.index(ref.kind)] = ref
    else:
        stages.insert(kinds.index(anchor) + after, ref)
    return stages


async def stage_latency(backend: str, utterances: Sequence[str], rounds: int) -> dict[str, Any]:
    """Per-turn milliseconds of each stage in the text pipeline with sentiment and tone added."""
    path = resolve_pipeline_path("text")
    spec = load_pipeline(path)
    stages = with_stage(list(spec.stages), StageRef(kind="tone", model="bench-tone"), "respond", 1)
    stages = with_stage(stages, StageRef(kind="sentiment", model="bench-sentiment"), "nlu", 0)
    catalog = load_models(DEFAULT_MODELS)
    catalog["sentiment"] = {"bench-sentiment": ModelSpec(backend=backend)}
    catalog["tone"] = {"bench-tone": ModelSpec(backend="policy")}
    plan = plan_pipeline(
        spec.model_copy(update={"stages": stages}),
        path,
        catalog,
        DEFAULT_MODELS,
        {"dst": "tracker-memory"},
    )
    samples = await stage_timings(plan, list(utterances) * rounds)
    return {
        stage: {"p50": statistics.median(v), "p95": percentile(v, 0.95), "n": len(v)}
        for stage, v in samples.items()
    }


# --- report --------------------------------------------------------------------------------------


def print_accuracy(backend: str, result: dict[str, Any]) -> None:
    recall = "  ".join(f"{label} {result['recall'][label]:.0%}" for label in LABELS)
    print(f"{backend:<10} accuracy {result['accuracy']:.1%} (n={result['n']})  recall: {recall}")
    print(f"{'':<10} confusion (rows: true; columns: {' / '.join(LABELS)})")
    for label in LABELS:
        row = result["confusion"][label]
        print(f"{'':<12}{label:<9} " + " ".join(f"{row[p]:>4}" for p in LABELS))
    for miss in result["misses"]:
        print(
            f"{'':<12}miss: {miss['text']!r} {miss['label']} -> {miss['got']} {miss['score']:+.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calibrate", action="store_true", help="search the neutral bands")
    args = parser.parse_args()
    if args.calibrate:
        print(json.dumps(calibrate(), indent=2))
        return

    test = load_labelled(TEST_SET)
    utterances = [text for texts in test.values() for text in texts]
    report: dict[str, Any] = {"accuracy": {}, "latency_ms": {}}
    for backend in BACKENDS:
        stage = load_stage(backend)
        report["accuracy"][backend] = result = accuracy(stage, test)
        result["neutral_band"] = [stage.params.negative_below, stage.params.positive_above]
        print_accuracy(backend, result)
    for backend in BACKENDS:
        latency = asyncio.run(stage_latency(backend, utterances, args.rounds))
        report["latency_ms"][f"with sentiment={backend}"] = latency
        print(f"\npipeline with sentiment={backend}, tone=policy ({args.rounds} rounds):")
        print(f"  {'stage':<10} {'p50 ms':>8} {'p95 ms':>8} {'turns':>6}")
        for stage_name, s in latency.items():
            print(f"  {stage_name:<10} {s['p50']:>8.2f} {s['p95']:>8.2f} {s['n']:>6}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "sentiment accuracy and sentiment/tone stage latency",
                "test_set": str(TEST_SET.relative_to(ROOT)),
                "rounds": args.rounds,
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg": os.getloadavg(),
                    "date": datetime.now(UTC).isoformat(),
                },
                **report,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
