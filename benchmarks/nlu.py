"""Intent accuracy and entity F1 of the nlu models on paraphrases they were never trained on.

Run from the project root:  python -m benchmarks.nlu [--model intent-minilm|intent-tfidf|all]
                                                     [--data heldout|dev|PATH] [--json] [--errors]
Tune thresholds:            python -m benchmarks.nlu --data dev --sweep --cv 5

Each model is built from models.yaml and trained on the built-in skills exactly as the text
pipeline builds it; then every example of the data set (Rasa nlu.yml format,
benchmarks/data/nlu_heldout.yml by default) is parsed once. Reported per model: intent accuracy,
macro-F1 over the intents, recall per intent, the most frequent confusions, out-of-scope
precision/recall, entity precision/recall/F1 (exact type+span, and type+value for the entities
whose values are normalised) and parse latency (intent + entities) p50/p95.

Shopping items are also scored as the list uses them (`item_resolved`): a removal ("take the milk
off") is resolved against the current list by `assistant.skills.shopping.resolve`, and counts as
right when it names the gold item. The list is the same for every removal: all items annotated
in the data set's add_to_list and remove_from_list lines, plus `DISTRACTORS`, near namesakes of
common items that a loose match would take instead ("oat milk" for "milk"). Only lines both
annotated and understood as remove_from_list are resolved (another intent would not remove
anything); every other line counts its items as the raw CRF found them. What the resolution
says is not on the list counts as a wrong item, an ambiguous one ("which one?") as a missed one.

`--sweep` scores a grid of (similarity_threshold, min_confidence) on the dev split and, with
`--cv K`, on a K-fold cross-validation of the skills' examples, and names the setting it would
choose. The held-out numbers, written to benchmarks/results/nlu.json, are for reporting only:
nothing is tuned on them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from assistant.config import (
    DEFAULT_MODELS,
    load_models,
    load_pipeline,
    resolve_pipeline_path,
    resolve_skill_dirs,
)
from assistant.core.config import validate_params
from assistant.core.stage import StageContext
from assistant.skills.loader import Example, SkillSet, load_skills, parse_example
from assistant.skills.shopping.resolve import resolve_removal, words
from assistant.stages import registry
from assistant.stages.nlu.classifier import OUT_OF_SCOPE, ClassifierParams, IntentClassifierStage
from benchmarks.stats import percentile

DATA = Path(__file__).resolve().parent / "data"
DATA_SETS = {"heldout": DATA / "nlu_heldout.yml", "dev": DATA / "nlu_dev.yml"}
RESULTS = Path(__file__).resolve().parent / "results" / "nlu.json"
MODELS = ("intent-minilm", "intent-tfidf")
# Entities whose value is not just the words said: durations in seconds, numbers, and units
# through the synonyms ("cm" -> centimeter). Items are kept as said, so a value-level score
# would only repeat the span score.
NORMALIZED = frozenset({"duration", "number", "unit_from", "unit_to"})
TOP_CONFUSIONS = 12
SIMILARITY_GRID = tuple(round(0.05 * i, 2) for i in range(0, 15))
CONFIDENCE_GRID = tuple(round(0.05 * i, 2) for i in range(0, 13))
TIE = 0.002  # macro-F1 differences smaller than this are noise on a few hundred examples
ITEM, REMOVE, ADD = "item", "remove_from_list", "add_to_list"
DISTRACTORS = ("oat milk", "soy milk", "peanuts", "green beans", "rice cakes", "tomato puree",
               "paper plates", "orange squash", "cream crackers", "ice cubes")  # fmt: skip


# --- data ----------------------------------------------------------------------------------------


def load_examples(path: Path) -> list[Example]:
    """The `- intent:` blocks of a Rasa nlu.yml file, entity annotations parsed."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples: list[Example] = []
    for index, entry in enumerate(data.get("nlu") or []):
        if not isinstance(entry, dict) or "intent" not in entry:
            raise ValueError(f"{path}: nlu[{index}]: expected an 'intent' with 'examples'")
        for raw in str(entry.get("examples") or "").splitlines():
            line = raw.strip()
            if not line:
                continue
            if not line.startswith("- "):
                raise ValueError(f"{path}: nlu[{index}]: {line!r} must start with '- '")
            examples.append(parse_example(line[2:].strip(), str(entry["intent"])))
    return examples


def normalize_text(text: str) -> str:
    """What counts as the same sentence: case, punctuation and spacing do not."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def training_texts(skills: SkillSet) -> set[str]:
    return {normalize_text(e.text) for e in skills.examples}


def scored_intents(skills: SkillSet) -> list[str]:
    """The intents a user can say: every intent with training examples, plus out_of_scope
    (which the classifier can also decide by distance). Intents without examples, such as the
    timers' `timer_done`, are triggered by reminders, never by an utterance."""
    return sorted({*(e.intent for e in skills.examples), OUT_OF_SCOPE})


# --- scoring -------------------------------------------------------------------------------------


class EntityLike(Protocol):
    """Both the gold `EntitySpan`s and the predicted `Entity` messages have these."""

    @property
    def entity(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def value(self) -> object: ...


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def summary(self) -> dict[str, float]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def _matched(gold: Sequence[Any], predicted: Sequence[Any]) -> Counts:
    """Multiset matching: each gold item is found at most once."""
    left = Counter(gold)
    tp = 0
    for item in predicted:
        if left[item] > 0:
            left[item] -= 1
            tp += 1
    return Counts(tp, len(predicted) - tp, len(gold) - tp)


def span_counts(gold: Iterable[EntityLike], predicted: Iterable[EntityLike]) -> Counts:
    """Exact match: the same entity type over exactly the same characters."""
    return _matched(
        [(e.entity, e.start, e.end) for e in gold], [(e.entity, e.start, e.end) for e in predicted]
    )


def canonical_value(value: object) -> str:
    """Numbers compare as numbers ("600", 600 and 600.0 are one value), text without case."""
    try:
        number = float(str(value))
    except ValueError:
        return " ".join(str(value).lower().split())
    return repr(number) if math.isfinite(number) else str(value).lower()


def value_counts(
    gold: Iterable[EntityLike], predicted: Iterable[EntityLike], types: frozenset[str] = NORMALIZED
) -> Counts:
    """Type + normalised value, wherever the span: "ten minutes" found as 600 seconds counts
    even if the span took a word more or less. Only the entity types in `types` are scored."""
    return _matched(
        [(e.entity, canonical_value(e.value)) for e in gold if e.entity in types],
        [(e.entity, canonical_value(e.value)) for e in predicted if e.entity in types],
    )


def shopping_list(rows: Sequence[Row]) -> list[str]:
    """The list removals are resolved against (see the module's doc)."""
    items = [
        str(e.value)
        for r in rows
        if r.gold in (ADD, REMOVE)
        for e in r.gold_entities
        if e.entity == ITEM
    ]
    return list(dict.fromkeys([*items, *DISTRACTORS]))


def resolved_item_counts(row: Row, entries: Sequence[str]) -> Counts:
    """Items of one line as the list uses them: a removal resolved against `entries`, compared
    with the gold items by their words (case, articles and plurals aside); other lines exactly
    as the raw score counts them."""
    if row.gold != REMOVE or row.predicted != REMOVE:  # as the raw score counts them
        return span_counts(
            [e for e in row.gold_entities if e.entity == ITEM],
            [e for e in row.entities if e.entity == ITEM],
        )
    gold = [words(str(e.value)) for e in row.gold_entities if e.entity == ITEM]
    said = [str(e.value) for e in row.entities if e.entity == ITEM]
    removal = resolve_removal(row.text, said, entries)
    return _matched(gold, [words(item) for item in (*removal.found, *removal.missing)])


def macro_f1(pairs: Sequence[tuple[str, str]], labels: Iterable[str]) -> float:
    """Mean F1 over `labels` of (gold, predicted) pairs; a label never gold nor predicted is
    left out rather than counted as 0 or 1."""
    scores = []
    for label in labels:
        counts = Counts(
            tp=sum(g == label and p == label for g, p in pairs),
            fp=sum(g != label and p == label for g, p in pairs),
            fn=sum(g == label and p != label for g, p in pairs),
        )
        if counts.tp + counts.fp + counts.fn:
            scores.append(counts.f1)
    return statistics.fmean(scores) if scores else 0.0


def label_counts(pairs: Sequence[tuple[str, str]], label: str) -> Counts:
    return Counts(
        tp=sum(g == label and p == label for g, p in pairs),
        fp=sum(g != label and p == label for g, p in pairs),
        fn=sum(g == label and p != label for g, p in pairs),
    )


# --- running a model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    text: str
    gold: str
    predicted: str
    confidence: float
    gold_entities: tuple[EntityLike, ...]
    entities: tuple[EntityLike, ...]
    ms: float


def build_stage(model: str) -> IntentClassifierStage:
    """The nlu stage as the text pipeline builds it: params from models.yaml, skills from
    pipelines/text.yaml (without the examples `assistant learn` kept)."""
    catalog = load_models(DEFAULT_MODELS)
    spec = catalog["nlu"][model]
    backend = registry.get("nlu", spec.backend)
    assert backend is not None and issubclass(backend.cls, IntentClassifierStage)
    pipeline_path = resolve_pipeline_path("text")
    skill_dirs = resolve_skill_dirs(
        pipeline_path, load_pipeline(pipeline_path).skills, learned=False
    )
    stage = backend.cls(
        name="nlu",
        params=validate_params(DEFAULT_MODELS, "nlu", model, spec, registry),
        context=StageContext(skill_dirs=skill_dirs),
    )
    stage.load()
    return stage


def run(stage: IntentClassifierStage, examples: Sequence[Example]) -> list[Row]:
    for example in examples[:10]:  # warm-up: first calls pay for lazy initialisation
        stage.understand(example.text)
    rows = []
    for example in examples:
        start = time.perf_counter()
        intent, _, entities = stage.understand(example.text)
        ms = (time.perf_counter() - start) * 1000
        rows.append(
            Row(
                example.text,
                example.intent,
                intent.name,
                intent.confidence,
                example.entities,
                entities,
                ms,
            )
        )
    return rows


def score(rows: Sequence[Row], intents: Sequence[str]) -> dict[str, Any]:
    pairs = [(r.gold, r.predicted) for r in rows]
    recall = {}
    for intent in intents:
        gold = [p for g, p in pairs if g == intent]
        if gold:
            recall[intent] = round(sum(p == intent for p in gold) / len(gold), 4)
    confusions = Counter((g, p) for g, p in pairs if g != p)
    in_scope = [r for r in rows if r.gold != OUT_OF_SCOPE]
    entries = shopping_list(rows)
    spans = sum((span_counts(r.gold_entities, r.entities) for r in in_scope), Counts())
    values = sum((value_counts(r.gold_entities, r.entities) for r in in_scope), Counts())
    per_type = {
        name: sum(
            (
                span_counts(
                    [e for e in r.gold_entities if e.entity == name],
                    [e for e in r.entities if e.entity == name],
                )
                for r in in_scope
            ),
            Counts(),
        ).summary()
        for name in sorted({e.entity for r in in_scope for e in (*r.gold_entities, *r.entities)})
    }
    latencies = [r.ms for r in rows]
    return {
        "examples": len(rows),
        "intent_accuracy": round(sum(g == p for g, p in pairs) / len(pairs), 4),
        "macro_f1": round(macro_f1(pairs, intents), 4),
        "out_of_scope": label_counts(pairs, OUT_OF_SCOPE).summary(),
        "recall_per_intent": recall,
        "confusions": [
            {"gold": g, "predicted": p, "count": n}
            for (g, p), n in confusions.most_common(TOP_CONFUSIONS)
        ],
        # Scored on in-scope examples, the only ones annotated; entities found in
        # out-of-scope requests are counted apart (the dialogue ignores them there).
        "entities_exact": spans.summary(),
        "entities_value": values.summary(),
        "entities_per_type": per_type,
        "item_resolved": sum(
            (resolved_item_counts(r, entries) for r in in_scope), Counts()
        ).summary(),
        "entities_in_out_of_scope": sum(len(r.entities) for r in rows if r.gold == OUT_OF_SCOPE),
        "latency_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(percentile(latencies, 0.95), 2),
            "max": round(max(latencies), 2),
        },
        "errors": [
            {"text": r.text, "gold": r.gold, "predicted": r.predicted, "confidence": r.confidence}
            for r in rows
            if r.gold != r.predicted
        ],
    }


Scored = tuple[str, Any, float]  # (gold intent, probabilities, nearest similarity)


def score_examples(stage: IntentClassifierStage, examples: Sequence[Example]) -> list[Scored]:
    return [(e.intent, *stage.scores(e.text)) for e in examples]


def cross_validated(
    stage: IntentClassifierStage, examples: Sequence[Example], folds: int
) -> list[Scored]:
    """Scores of every training example from a classifier trained on the other folds; the stage
    is trained on all of them again afterwards."""
    from sklearn.model_selection import StratifiedKFold

    labels = [e.intent for e in examples]
    scored: list[Scored] = []
    try:
        split = StratifiedKFold(folds, shuffle=True, random_state=0)
        for train, test in split.split(labels, labels):
            stage.fit_intents([examples[i] for i in train], remember=False)
            scored += score_examples(stage, [examples[i] for i in test])
    finally:
        stage.fit_intents(examples)
    return scored


def threshold_table(
    stage: IntentClassifierStage, scored: Sequence[Scored], intents: Sequence[str]
) -> list[dict[str, float]]:
    """Every (similarity_threshold, min_confidence) of the grid: the intent decision reads only
    the scores, so each example is parsed once."""
    original = stage.params
    table = []
    try:
        for similarity in SIMILARITY_GRID:
            for confidence in CONFIDENCE_GRID:
                stage.params = original.model_copy(
                    update={"similarity_threshold": similarity, "min_confidence": confidence}
                )
                pairs = [(g, stage.decide(p, n)[0].name) for g, p, n in scored]
                oos = label_counts(pairs, OUT_OF_SCOPE)
                table.append(
                    {
                        "similarity_threshold": similarity,
                        "min_confidence": confidence,
                        "macro_f1": round(macro_f1(pairs, intents), 4),
                        "accuracy": round(sum(g == p for g, p in pairs) / len(pairs), 4),
                        "oos_precision": round(oos.precision, 4),
                        "oos_recall": round(oos.recall, 4),
                    }
                )
    finally:
        stage.params = original
    return table


def report_sweep(
    model: str, params: ClassifierParams, tables: dict[str, list[dict[str, float]]]
) -> None:
    """The grid ranked by the mean macro-F1 over the tables (the dev split and/or the
    cross-validation), each table's macro-F1 / OOS precision / OOS recall beside it."""
    names = list(tables)
    rows = list(zip(*tables.values(), strict=True))
    best = sorted(rows, key=lambda r: statistics.fmean(t["macro_f1"] for t in r), reverse=True)
    current = [
        r
        for r in rows
        if math.isclose(r[0]["similarity_threshold"], params.similarity_threshold)
        and math.isclose(r[0]["min_confidence"], params.min_confidence)
    ]
    top = statistics.fmean(t["macro_f1"] for t in best[0])
    # The choice: among settings within TIE of the best mean macro-F1, the strictest one, since
    # "I can't do that" costs the user less than a wrong action or a made-up answer.
    chosen = max(
        (r for r in rows if statistics.fmean(t["macro_f1"] for t in r) >= top - TIE),
        key=lambda r: r[0]["similarity_threshold"] + r[0]["min_confidence"],
    )
    print(f"\n== {model}: thresholds by mean macro-F1 over {' and '.join(names)}")
    print("  sim   conf   mean F1" + "".join(f"   {n + ' F1/OOS P/R':<20}" for n in names))
    shown = {id(r): r for r in [*best[:10], chosen, *current]}  # once each, in this order
    for r in shown.values():
        mark = "  <- models.yaml" if current and r is current[0] else ""
        mark += "  <- chosen" if r is chosen else ""
        cells = "".join(
            f"   {t['macro_f1']:.3f} {t['oos_precision']:.2f} {t['oos_recall']:.2f}     " for t in r
        )
        mean = statistics.fmean(t["macro_f1"] for t in r)
        print(
            f"  {r[0]['similarity_threshold']:.2f}  {r[0]['min_confidence']:.2f}   {mean:.3f}"
            f"{cells}{mark}"
        )


def report(model: str, result: dict[str, Any]) -> None:
    oos, exact, value = result["out_of_scope"], result["entities_exact"], result["entities_value"]
    lat = result["latency_ms"]
    print(f"\n== {model}: {result['examples']} examples")
    print(f"intent accuracy {result['intent_accuracy']:.3f}   macro-F1 {result['macro_f1']:.3f}")
    print(f"out of scope    precision {oos['precision']:.3f}  recall {oos['recall']:.3f}")
    print(
        f"entities exact  P {exact['precision']:.3f}  R {exact['recall']:.3f}  "
        f"F1 {exact['f1']:.3f}   (tp {exact['tp']}, fp {exact['fp']}, fn {exact['fn']})"
    )
    print(
        f"entities value  P {value['precision']:.3f}  R {value['recall']:.3f}  "
        f"F1 {value['f1']:.3f}   ({', '.join(sorted(NORMALIZED))})"
    )
    for name, s in result["entities_per_type"].items():
        print(f"  {name:<10} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}")
    resolved = result["item_resolved"]
    print(
        f"  item, removals resolved against the list  P {resolved['precision']:.3f}  "
        f"R {resolved['recall']:.3f}  F1 {resolved['f1']:.3f}"
    )
    print(f"entities found in out-of-scope requests: {result['entities_in_out_of_scope']}")
    print(f"parse latency   p50 {lat['p50']:.1f} ms  p95 {lat['p95']:.1f} ms")
    print("recall per intent:")
    for intent, r in sorted(result["recall_per_intent"].items(), key=lambda kv: kv[1]):
        print(f"  {r:.2f}  {intent}")
    print("most frequent confusions (gold -> predicted):")
    for c in result["confusions"]:
        print(f"  {c['count']:>3}  {c['gold']} -> {c['predicted']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=[*MODELS, "all"], default="all")
    parser.add_argument(
        "--data", default="heldout", help="heldout, dev, or a path to an nlu.yml-format file"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--errors", action="store_true", help="also list every misclassified line")
    parser.add_argument(
        "--sweep", action="store_true", help="score a grid of thresholds instead (use --data dev)"
    )
    parser.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="with --sweep: also K-fold cross-validation on the skills",
    )
    args = parser.parse_args(argv)
    path = DATA_SETS.get(args.data, Path(args.data))
    models = list(MODELS) if args.model == "all" else [args.model]

    pipeline_path = resolve_pipeline_path("text")
    # The skills as shipped: what `assistant learn` added for this user is not measured here.
    spec = load_pipeline(pipeline_path)
    skills = load_skills(resolve_skill_dirs(pipeline_path, spec.skills, learned=False))
    trained = training_texts(skills)
    examples = load_examples(path)
    # A benchmark line that is also a training example measures memory, not generalisation.
    overlap = [e.text for e in examples if normalize_text(e.text) in trained]
    for text in overlap:
        print(f"skipped, also a training example: {text!r}", file=sys.stderr)
    examples = [e for e in examples if normalize_text(e.text) not in trained]
    intents = scored_intents(skills)
    missing = sorted(set(intents) - {e.intent for e in examples})
    if missing:
        print(f"note: no examples of {', '.join(missing)}", file=sys.stderr)

    results: dict[str, Any] = {}
    for model in models:
        start = time.perf_counter()
        stage = build_stage(model)
        load_s = time.perf_counter() - start
        if args.sweep:
            assert isinstance(stage.params, ClassifierParams)
            tables = {args.data: threshold_table(stage, score_examples(stage, examples), intents)}
            if args.cv:
                cv = cross_validated(stage, skills.examples, args.cv)
                tables[f"{args.cv}-fold cv"] = threshold_table(stage, cv, intents)
            report_sweep(model, stage.params, tables)
            continue
        results[model] = {
            "load_s": round(load_s, 2),
            # Per model: a `--model` run merges into the file, next to older numbers.
            "measured": {"date": datetime.now(UTC).isoformat(), "loadavg": os.getloadavg()},
            **score(run(stage, examples), intents),
        }
        if not args.json:
            report(model, results[model])
            if args.errors:
                for e in results[model]["errors"]:
                    print(f"  {e['gold']:>16} -> {e['predicted']:<16} {e['text']!r}")

    if args.sweep:
        return 0
    output = {
        "benchmark": "nlu intent accuracy and entity F1 on paraphrases never trained on",
        "data": str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path),
        "examples": len(examples),
        "skipped_as_training_examples": overlap,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
            "date": datetime.now(UTC).isoformat(),
        },
        "models": results,
    }
    if args.json:
        print(json.dumps(output, indent=2))
    if path == DATA_SETS["heldout"]:
        # Merge, so that `--model intent-tfidf` does not drop the other model's last numbers.
        previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        output["models"] = {**previous.get("models", {}), **results}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(output, indent=2) + "\n")
        if not args.json:
            print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
