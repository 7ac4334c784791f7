"""Which ASR confidence separates wrong transcripts of calculations and timers from right ones.

Run from the project root, on a results file of `benchmarks.asr` (which records every clip's
confidence):
  python -m benchmarks.asr_confirm [--results PATH] [--model whisper-tiny-en] [--prompt skills]
                                   [--part tuning] [--thresholds 0.6 0.7 ...] [--output PATH]

Every clip's transcript is understood by the default intent model, as the voice pipeline
would. The clips that matter are those whose transcript is understood as one of the confirmed
intents (`calculate`, `set_timer`): asking "did you say ...?" is worth it when the transcript
means something else than what was said (`wrong`: another intent, or other entity values, than
the reference text gives), and a cost when it means the same (`right`). For each threshold: how
many wrong ones would be asked (caught) and how many right ones (asked for nothing). The table
and the judged clips are written under the part's key of `--output`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from assistant.stages.nlu.classifier import IntentClassifierStage
from benchmarks.asr import RESULTS
from benchmarks.nlu import build_stage

OUTPUT = Path(__file__).resolve().parent / "results" / "asr_confirm.json"
INTENTS = ("calculate", "set_timer")
THRESHOLDS = (0.6, 0.65, 0.7, 0.72, 0.75, 0.8, 0.85, 0.9)


def meaning(stage: IntentClassifierStage, text: str) -> tuple[str, tuple[str, ...]]:
    intent, _, entities = stage.understand(text)
    return intent.name, tuple(sorted(f"{e.entity}={e.value}" for e in entities))


def judged(clips: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The clips understood as a confirmed intent, each marked wrong or right by meaning."""
    stage = build_stage("intent-minilm")  # as the text pipeline builds it
    out = []
    for clip in clips:
        heard = meaning(stage, clip["hypothesis"]) if clip["hypothesis"].strip() else ("", ())
        if heard[0] not in INTENTS:
            continue
        said = meaning(stage, clip["reference"])
        out.append({**clip, "wrong": heard != said, "heard": heard, "said": said})
    return out


def table(clips: list[dict[str, Any]], thresholds: list[float]) -> list[dict[str, Any]]:
    wrong = [c for c in clips if c["wrong"]]
    right = [c for c in clips if not c["wrong"]]
    return [
        {
            "threshold": t,
            "wrong_asked": sum(c["confidence"] < t for c in wrong),
            "wrong": len(wrong),
            "right_asked": sum(c["confidence"] < t for c in right),
            "right": len(right),
        }
        for t in thresholds
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.asr_confirm", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--model", default="whisper-tiny-en")
    parser.add_argument("--prompt", default="skills")
    parser.add_argument("--part", default="tuning", choices=("tuning", "held-out"))
    parser.add_argument("--thresholds", nargs="+", type=float, default=list(THRESHOLDS))
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    part = results["models"][args.model]["prompts"][args.prompt][args.part]
    if "clips" not in part:
        raise SystemExit(f"{args.results} has no per-clip confidence: run benchmarks.asr again")
    clips = judged(part["clips"])
    for clip in sorted(clips, key=lambda c: c["confidence"]):
        mark = "WRONG" if clip["wrong"] else "right"
        print(f"{clip['confidence']:.3f} {mark} {clip['voice']:<18} {clip['hypothesis']!r}")
    rows = table(clips, args.thresholds)
    print("\n| threshold | wrong asked | right asked |\n|---|---|---|")
    for row in rows:
        print(
            f"| {row['threshold']} | {row['wrong_asked']} / {row['wrong']} | "
            f"{row['right_asked']} / {row['right']} |"
        )

    written = json.loads(args.output.read_text()) if args.output.exists() else {}
    written[args.part] = {
        "model": args.model, "prompt": args.prompt, "intents": list(INTENTS), "table": rows,
        "clips": [
            {k: c[k] for k in ("voice", "reference", "hypothesis", "confidence", "wrong")}
            for c in sorted(clips, key=lambda c: c["confidence"])
        ],
    }  # fmt: skip
    args.output.write_text(json.dumps(written, indent=1) + "\n")


if __name__ == "__main__":
    main()
