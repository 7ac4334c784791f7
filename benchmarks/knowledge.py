"""Knowledge answers: how well the similarity threshold separates questions the documents answer
from questions they do not, and what building the index and answering cost.

Run from the project root:  python -m benchmarks.knowledge [--docs FOLDER] [--json OUT]

With the default documents (tests/data/knowledge) it prints, for every question, the best
passage's score and whether it is the right one; then, per threshold, how many answerable
questions are answered and how many others declined. Timings: encoder load, a cold build (empty
cache), a cached build, a build after touching every file (same content, new mtime) and the
latency of one answer. The "tuning" set is the one DEFAULT_THRESHOLD was chosen on; the
"held-out" set was written before any of its scores were seen.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from assistant.knowledge.index import DEFAULT_THRESHOLD, KnowledgeIndex
from assistant.nlu.embedder import SentenceEncoder, shared_encoder

DOCS = Path(__file__).resolve().parent.parent / "tests" / "data" / "knowledge"
CAR = "Car notes (the blue Skoda Fabia)"
THRESHOLDS = (0.35, 0.40, 0.45, 0.50, 0.55)
T = TypeVar("T")

# question -> the section heading that answers it
ANSWERABLE = {
    "tuning": {
        "where can I find the wifi password": "Wifi",
        "what's the code for the internet": "Wifi",
        "the internet is not working what should I do": "Wifi",
        "which day does the rubbish get collected": "Bins and recycling",
        "when do I put the recycling out": "Bins and recycling",
        "the heating stopped working, how do I restart the boiler": "Heating and hot water",
        "how do I turn off the water supply": "Water and electricity",
        "where is the fuse box": "Water and electricity",
        "who has a spare key": "Useful contacts",
        "how often should I water the monstera": "Monstera (living room)",
        "why are the leaves of my monstera turning yellow": "Monstera (living room)",
        "how much water does the snake plant need": "Snake plant (bedroom)",
        "when should I move plants into bigger pots": "Repotting",
        "how do I connect the kettle to my phone": "How do I pair the kettle with the app?",
        "how do I get limescale out of the kettle": "How do I descale it?",
        "how long is the kettle guaranteed for": "What does the warranty cover?",
        "what does a flashing red light on the kettle mean": "What do the ring light colours mean?",
        "what temperature should I use for green tea": "Which temperatures can I choose?",
        "what pressure should the car tyres be": CAR,
        "what oil does the car take": CAR,
        "when is the car's MOT due": CAR,
        "who is the car insured with": CAR,
    },
    "held-out": {
        "what is the wifi network name": "Wifi",
        "is there a number for someone to fix the boiler": "Useful contacts",
        "what should the boiler pressure be": "Heating and hot water",
        "when does the heating turn on": "Heating and hot water",
        "how often does the basil need watering": "Herbs on the kitchen windowsill",
        "where is the spare oil for the car": CAR,
        "what can I use to clean the inside of the kettle": "How do I descale it?",
        "does the warranty cover a broken base": "What does the warranty cover?",
        "where does the snake plant like to be": "Snake plant (bedroom)",
        "when is the green bin emptied": "Bins and recycling",
        "which garage services the car": CAR,
        "where is the stopcock": "Water and electricity",
    },
}

UNANSWERABLE = {
    "tuning": [
        "who won the world cup in 1998", "what's the capital of australia", "tell me a joke",
        "what time is it", "how tall is mount everest", "what's the weather like tomorrow",
        "how do I bake sourdough bread", "play some jazz music", "set a timer for ten minutes",
        "who wrote pride and prejudice", "what is the square root of 144",
        "how many calories are in a banana", "translate hello into french",
        "what's the latest news", "remind me to call mum", "how do I change a bike tyre",
        "what's a good recipe for lasagne", "how far away is the moon",
        "what is the population of japan", "turn on the living room lights",
    ],
    "held-out": [
        "what's the password for the alarm system", "how do I cook rice",
        "what's the exchange rate of the euro", "who is the president of france",
        "how do I fix a leaking tap", "when is my dentist appointment",
        "when is my mother's birthday", "how many legs does a spider have",
        "recommend a good film", "what should I feed the cat", "how do I reset my phone",
        "what is the speed of light",
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Scored:
    set: str
    question: str
    answerable: bool
    score: float
    heading: str
    right_passage: bool | None  # None for unanswerable questions


def score_questions(index: KnowledgeIndex) -> list[Scored]:
    rows = []
    for name, questions in ANSWERABLE.items():
        for question, heading in questions.items():
            (hit,) = index.search(question, 1)
            found = hit.passage.heading
            rows.append(Scored(name, question, True, hit.score, found, found == heading))
    for name, unanswerable in UNANSWERABLE.items():
        for question in unanswerable:
            (hit,) = index.search(question, 1)
            rows.append(Scored(name, question, False, hit.score, hit.passage.heading, None))
    return rows


def threshold_table(rows: list[Scored]) -> list[dict[str, float]]:
    answerable = [r for r in rows if r.answerable]
    others = [r for r in rows if not r.answerable]
    table = []
    for threshold in THRESHOLDS:
        answered = [r for r in answerable if r.score >= threshold]
        table.append(
            {
                "threshold": threshold,
                "answered_right": sum(bool(r.right_passage) for r in answered),
                "answered_wrong_passage": sum(not r.right_passage for r in answered),
                "answerable": len(answerable),
                "declined": sum(r.score < threshold for r in others),
                "unanswerable": len(others),
            }
        )
    return table


def seconds(fn: Callable[..., T], *args: Any) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def time_builds(source: Path, encoder: SentenceEncoder) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"  # a copy: the touch below must not change the originals
        shutil.copytree(source, docs)
        cache = Path(tmp) / "cache"
        cold, index = seconds(KnowledgeIndex.build, docs, encoder, cache)
        cached, again = seconds(KnowledgeIndex.build, docs, encoder, cache)
        assert again.embedded_count == 0
        for path in index.files:
            os.utime(path)  # a new mtime, the same content: recognised by sha1
        touched, _ = seconds(KnowledgeIndex.build, docs, encoder, cache)
        return {
            "files": len(index.files),
            "passages": len(index),
            "vectors": len(index.vectors),
            "cold_s": cold,
            "cached_s": cached,
            "touched_s": touched,
        }


def answer_latency(index: KnowledgeIndex, runs: int = 3) -> dict[str, float]:
    questions = [q for questions in ANSWERABLE.values() for q in questions]
    times = []
    for _ in range(runs):
        for question in questions:
            elapsed, _ = seconds(index.answer, question)
            times.append(elapsed * 1000)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * (len(times) - 1))],
        "n": len(times),
    }


def report(rows: list[Scored]) -> None:
    for row in sorted(rows, key=lambda r: (r.answerable, r.set, -r.score)):
        mark = "" if row.right_passage is None else (" ok" if row.right_passage else " WRONG")
        kind = "answerable" if row.answerable else "unanswerable"
        print(f"  {row.score:.3f} {kind:12} {row.set:8} {row.question!r} -> {row.heading}{mark}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DOCS, help="a folder of .md/.txt files")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.docs != DOCS:
        print("note: the question sets are written for tests/data/knowledge", file=sys.stderr)

    load_s, encoder = seconds(shared_encoder)
    index = KnowledgeIndex.build(args.docs, encoder)
    rows = score_questions(index)
    print(f"scores (best passage per question; default threshold {DEFAULT_THRESHOLD}):")
    report(rows)
    table = threshold_table(rows)
    print("\nthreshold  answered(right/wrong passage)  declined")
    for t in table:
        print(
            f"  {t['threshold']:.2f}     {t['answered_right']}/{t['answered_wrong_passage']}"
            f" of {t['answerable']}                  {t['declined']} of {t['unanswerable']}"
        )
    builds = time_builds(args.docs, encoder)
    latency = answer_latency(index)
    load1 = os.getloadavg()[0]
    print(f"\nencoder load {load_s:.2f} s; load average {load1:.1f} on {os.cpu_count()} cores")
    print(
        f"build of {builds['files']} files ({builds['passages']} passages, {builds['vectors']}"
        f" vectors): cold {builds['cold_s']:.2f} s, cached {builds['cached_s'] * 1000:.1f} ms,"
        f" touched {builds['touched_s'] * 1000:.1f} ms"
    )
    print(f"answer latency p50 {latency['p50_ms']:.1f} ms, p90 {latency['p90_ms']:.1f} ms")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "threshold": DEFAULT_THRESHOLD,
                    "rows": [asdict(r) for r in rows],
                    "table": table,
                    "builds": builds,
                    "answer_latency": latency,
                    "encoder_load_s": load_s,
                    "load_average": load1,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
