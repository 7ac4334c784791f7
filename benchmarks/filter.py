"""Quality and cost of the response filter, on the held-out set benchmarks/data/filter_test.yml.

Run from the project root:  python -m benchmarks.filter [--rounds N]

Reported:
- profanity / toxicity precision and recall of the word list alone, the classifier alone and
  both together (what the filter does), with recall per kind (swear words, slurs, insults, hate)
  and the false alarms among harmless look-alikes and ordinary assistant replies;
- personal data: recall per entity type, and the share of ordinary replies with anything
  redacted (false-positive rate);
- cost: load time of the PII analyzer (cold, in this process) and of the toxicity checks, and
  the filter stage's time per reply (p50/p95), which is what it adds to a turn (plus one bus
  hop, ~16 µs: see benchmarks/bus.py). Results go to benchmarks/results/filter.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from assistant.core.stage import StageContext
from assistant.messages import Reply
from assistant.safety.pii import DEFAULT_PII_ENTITIES, DEFAULT_SCORE_THRESHOLD, PiiRedactor
from assistant.safety.toxicity import ProfanityList, ToxicityClassifier, ToxicityFilter
from assistant.stages.filter.safety import SafetyFilter, SafetyFilterParams
from benchmarks.stats import percentile

DATA = Path(__file__).resolve().parent / "data" / "filter_test.yml"
RESULTS = Path(__file__).resolve().parent / "results" / "filter.json"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def detection_scores(
    flags: Callable[[str], bool], toxic: dict[str, list[str]], clean: dict[str, list[str]]
) -> dict[str, Any]:
    caught = {kind: [flags(s) for s in sentences] for kind, sentences in toxic.items()}
    alarms = {kind: [s for s in sentences if flags(s)] for kind, sentences in clean.items()}
    tp = sum(sum(hits) for hits in caught.values())
    fn = sum(len(hits) - sum(hits) for hits in caught.values())
    fp = sum(len(a) for a in alarms.values())
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3),
        "recall_by_kind": {k: f"{sum(h)}/{len(h)}" for k, h in caught.items()},
        "missed": [
            s for k, ss in toxic.items() for s, h in zip(ss, caught[k], strict=True) if not h
        ],
        "false_alarms": {k: f"{len(a)}/{len(clean[k])}" for k, a in alarms.items()},
        "false_alarm_sentences": [s for a in alarms.values() for s in a],
    }


def toxicity_report(
    words: ProfanityList,
    classifier: ToxicityClassifier,
    threshold: float,
    toxic: dict[str, list[str]],
    clean: dict[str, list[str]],
) -> dict[str, Any]:
    methods = {
        "word list": ToxicityFilter(words, None),
        "classifier": ToxicityFilter(None, classifier, threshold),
        "combined (the filter)": ToxicityFilter(words, classifier, threshold),
    }
    return {
        name: detection_scores(changes_something(method), toxic, clean)
        for name, method in methods.items()
    }


def changes_something(method: ToxicityFilter) -> Callable[[str], bool]:
    return lambda sentence: bool(method.find(sentence))


def pii_report(
    redactor: PiiRedactor, cases: Sequence[dict[str, Any]], ordinary: Sequence[str]
) -> dict[str, Any]:
    expected: dict[str, int] = {}
    found: dict[str, int] = {}
    misses = []
    for case in cases:
        rules = {change.rule for change in redactor.find(case["text"])}
        for entity in case["entities"]:
            expected[entity] = expected.get(entity, 0) + 1
            if f"pii:{entity}" in rules:
                found[entity] = found.get(entity, 0) + 1
            else:
                misses.append({"text": case["text"], "entity": entity, "found": sorted(rules)})
    flagged = []
    for text in ordinary:
        redacted, changes = redactor.redact(text)
        if changes:
            flagged.append({"text": text, "redacted": redacted, "rules": [c.rule for c in changes]})
    total = sum(expected.values())
    return {
        "recall": round(sum(found.values()) / total, 3),
        "recall_by_entity": {e: f"{found.get(e, 0)}/{n}" for e, n in sorted(expected.items())},
        "missed": misses,
        "false_positive_rate": round(len(flagged) / len(ordinary), 3),
        "ordinary_replies": len(ordinary),
        "false_positives": flagged,
    }


async def stage_latency(texts: Sequence[str], rounds: int) -> dict[str, Any]:
    stage = SafetyFilter(
        name="filter", params=SafetyFilterParams.model_validate({}), context=StageContext()
    )
    _, load_s = await _timed_async(stage.start())
    ms: list[float] = []
    changed = 0
    for round_ in range(rounds + 1):
        for text in texts:
            reply = Reply(session_id="bench", turn_id=1, text=text, source="template")
            start = time.perf_counter()
            out = [message async for message in stage.process(reply)]
            if round_:  # the first round warms up
                ms.append((time.perf_counter() - start) * 1000)
            changed += round_ == 1 and isinstance(out[0], Reply) and out[0].text != text
    await stage.stop()
    return {
        "load_s_after_models_loaded": round(load_s, 3),
        "per_reply_ms": {
            "p50": round(statistics.median(ms), 2),
            "p95": round(percentile(ms, 0.95), 2),
            "max": round(max(ms), 2),
            "n": len(ms),
        },
        "replies_changed": f"{changed}/{len(texts)}",
    }


async def _timed_async(awaitable: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = await awaitable
    return result, time.perf_counter() - start


def part_latency(fn: Callable[[str], Any], texts: Sequence[str], rounds: int) -> dict[str, float]:
    for text in texts:
        fn(text)
    ms = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            fn(text)
            ms.append((time.perf_counter() - start) * 1000)
    return {"p50": round(statistics.median(ms), 2), "p95": round(percentile(ms, 0.95), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    ordinary: list[str] = data["ordinary_replies"]
    toxic: dict[str, list[str]] = data["toxicity"]["toxic"]
    clean = {"look-alikes": data["toxicity"]["clean"], "ordinary replies": ordinary}
    threshold = SafetyFilterParams.model_validate({}).toxicity_threshold or 1.0

    redactor, pii_load_s = timed(lambda: PiiRedactor(DEFAULT_PII_ENTITIES, DEFAULT_SCORE_THRESHOLD))
    words, words_load_s = timed(ProfanityList)
    classifier, classifier_load_s = timed(ToxicityClassifier)

    report = {
        "benchmark": "response filter",
        "data": str(DATA.relative_to(DATA.parents[2])),
        "toxicity_threshold": threshold,
        "pii_threshold": DEFAULT_SCORE_THRESHOLD,
        "pii_entities": list(DEFAULT_PII_ENTITIES),
        "toxicity": toxicity_report(words, classifier, threshold, toxic, clean),
        "pii": pii_report(redactor, data["pii"], ordinary),
        "load_s": {
            "pii_analyzer_cold": round(pii_load_s, 2),
            "profanity_list": round(words_load_s, 3),
            "toxicity_classifier_with_encoder": round(classifier_load_s, 2),
        },
        "latency_ms": {
            "toxicity": part_latency(
                ToxicityFilter(words, classifier, threshold).find, ordinary, 1
            ),
            "pii": part_latency(redactor.find, ordinary, 1),
        },
        "stage": asyncio.run(stage_latency(ordinary, args.rounds)),
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
            "date": datetime.now(UTC).isoformat(),
        },
    }
    print_summary(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {RESULTS}")


def print_summary(report: dict[str, Any]) -> None:
    print(f"{'toxicity':<24} {'precision':>9} {'recall':>7}  recall by kind / false alarms")
    for name, scores in report["toxicity"].items():
        print(
            f"{name:<24} {scores['precision']!s:>9} {scores['recall']:>7}  "
            f"{scores['recall_by_kind']}  {scores['false_alarms']}"
        )
    pii = report["pii"]
    print(f"\nPII recall {pii['recall']} {pii['recall_by_entity']}")
    print(f"PII false positives on ordinary replies: {pii['false_positive_rate']}")
    for flagged in pii["false_positives"]:
        print(f"  {flagged['text']!r} -> {flagged['redacted']!r}")
    print(f"\nload (s): {report['load_s']}")
    print(f"per reply (ms): {report['latency_ms']}; stage {report['stage']['per_reply_ms']}")


if __name__ == "__main__":
    main()
