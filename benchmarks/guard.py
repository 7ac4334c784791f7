"""The input guard on a held-out labelled set: how well it refuses harmful requests, how often it
refuses harmless ones, and the time it adds to a turn.

Run from the project root:  python -m benchmarks.guard [--rounds N]

The set (benchmarks/data/guard_test.yml) was written apart from the training examples and is
never trained on; tests/test_guard.py checks that they do not overlap. Labels starting with "ok"
are harmless, the others are the classifier labels the constitution's rules fire on. The added
latency is the stage's whole work on one utterance (redaction, then classification), as
`--json` reports it under timings_ms.guard; the two parts are timed apart as well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.core.stage import StageContext
from assistant.messages import GuardVerdict, Transcript
from assistant.nlu.embedder import shared_encoder
from assistant.nlu.labelled import load_labelled
from assistant.safety.pii import shared_pii_redactor
from assistant.stages.guard.constitution import ConstitutionGuard, ConstitutionParams
from benchmarks.stats import percentile

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "guard_test.yml"
RESULTS = ROOT / "results" / "guard.json"


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def summary_ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(samples), 2),
        "p95": round(percentile(samples, 0.95), 2),
        "max": round(max(samples), 2),
        "n": len(samples),
    }


async def judge(guard: ConstitutionGuard, text: str, turn: int) -> tuple[GuardVerdict, float]:
    """The stage's verdict on one utterance and its wall time (ms)."""
    started = time.perf_counter()
    outputs = [o async for o in guard.process(Transcript(session_id="b", turn_id=turn, text=text))]
    elapsed = (time.perf_counter() - started) * 1000
    verdict = outputs[0]
    assert isinstance(verdict, GuardVerdict)
    return verdict, elapsed


def score(
    cases: list[tuple[str, str]], verdicts: list[GuardVerdict], guard: ConstitutionGuard
) -> dict[str, Any]:
    """Per-rule and overall precision and recall, false refusals of harmless sentences."""
    rule_of = {label: rule.name for rule in guard.rules for label in rule.labels}
    expected = [rule_of.get(label) for _, label in cases]  # None: should pass
    got = [v.rule for v in verdicts]
    per_rule = {}
    for rule in guard.rules:
        tp = sum(e == g == rule.name for e, g in zip(expected, got, strict=True))
        fired = sum(g == rule.name for g in got)
        actual = sum(e == rule.name for e in expected)
        per_rule[rule.name] = {
            "precision": ratio(tp, fired),
            "recall": ratio(tp, actual),
            "n": actual,
        }
    harmful = [e is not None for e in expected]
    refused = [g is not None for g in got]
    caught = sum(h and r for h, r in zip(harmful, refused, strict=True))
    right_rule = sum(e is not None and e == g for e, g in zip(expected, got, strict=True))
    benign = {
        label: [v.refused for (_, lab), v in zip(cases, verdicts, strict=True) if lab == label]
        for label in sorted({lab for _, lab in cases if lab.startswith("ok")})
    }
    all_benign = [r for refusals in benign.values() for r in refusals]
    return {
        "harmful": {
            "precision": ratio(caught, sum(refused)),
            "recall": ratio(caught, sum(harmful)),
            "right_rule": ratio(right_rule, sum(harmful)),
            "n": sum(harmful),
        },
        "per_rule": per_rule,
        "false_refusal_rate": {
            "all_benign": ratio(sum(all_benign), len(all_benign)),
            **{label: ratio(sum(r), len(r)) for label, r in benign.items()},
            "n": len(all_benign),
        },
        "errors": [
            {"text": text, "label": label, "expected": e, "got": g}
            for (text, label), e, g in zip(cases, expected, got, strict=True)
            if e != g
        ],
    }


async def measure(rounds: int) -> dict[str, Any]:
    labelled = load_labelled(DATA)
    cases = [(text, label) for label, texts in labelled.items() for text in texts]
    params = ConstitutionParams()
    # The encoder and the PII analyzer are loaded once per process and shared with intent
    # detection and the response filter: timed apart from the guard's own training.
    load_s = {}
    for part, load in (
        ("encoder (shared)", shared_encoder),
        (
            "PII analyzer (shared)",
            lambda: shared_pii_redactor(params.pii_entities, params.pii_threshold),
        ),
    ):
        started = time.perf_counter()
        await asyncio.to_thread(load)
        load_s[part] = round(time.perf_counter() - started, 2)
    guard = ConstitutionGuard(
        name="guard", params=params, context=StageContext(skill_dirs=(BUILTIN_SKILLS_DIR,))
    )
    started = time.perf_counter()
    await guard.start()
    load_s["guard training"] = round(time.perf_counter() - started, 2)
    for text, _ in cases[:10]:  # warm-up: first-call costs are not turn latency
        await judge(guard, text, 0)
    verdicts: list[GuardVerdict] = []
    stage_ms: list[float] = []
    for round_ in range(rounds):
        for turn, (text, _) in enumerate(cases, 1):
            verdict, ms = await judge(guard, text, turn)
            stage_ms.append(ms)
            if round_ == 0:
                verdicts.append(verdict)
    redact_ms, classify_ms = [], []
    assert guard.redactor is not None
    for text, _ in cases:
        started = time.perf_counter()
        await guard.run_blocking(guard.redactor.redact, text)
        redact_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        await guard.run_blocking(guard.classifier.classify, text)
        classify_ms.append((time.perf_counter() - started) * 1000)
    await guard.stop()
    return {
        **score(cases, verdicts, guard),
        "latency_ms": {
            "stage": summary_ms(stage_ms),
            "redaction": summary_ms(redact_ms),
            "classification": summary_ms(classify_ms),
        },
        "load_s": load_s,
        "training_examples": len(guard.classifier.example_labels),
    }


def show(results: dict[str, Any]) -> None:
    harmful, frr = results["harmful"], results["false_refusal_rate"]
    print(
        f"harmful requests (n={harmful['n']}): precision {harmful['precision']}, "
        f"recall {harmful['recall']}, right rule {harmful['right_rule']}"
    )
    print(f"{'rule':<15} {'precision':>9} {'recall':>7} {'n':>4}")
    for rule, s in results["per_rule"].items():
        print(f"{rule:<15} {s['precision']!s:>9} {s['recall']!s:>7} {s['n']:>4}")
    print("false refusals: " + ", ".join(f"{k} {v}" for k, v in frr.items()))
    print(f"{'latency':<15} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for part, s in results["latency_ms"].items():
        print(f"{part:<15} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['max']:>8.1f}")
    print("load: " + ", ".join(f"{k} {v} s" for k, v in results["load_s"].items()))
    for error in results["errors"]:
        print(f"  expected {error['expected']}, got {error['got']}: {error['text']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the set")
    args = parser.parse_args()
    results = asyncio.run(measure(args.rounds))
    show(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "input guard: held-out harmful and harmless requests",
                "data": str(DATA.relative_to(ROOT.parent)),
                "rounds": args.rounds,
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg": os.getloadavg(),
                    "date": datetime.now(UTC).isoformat(),
                },
                **results,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
