"""Speech recognition: word error rate and speed of every asr model of the catalog.

Run from the project root:  python -m benchmarks.asr [--quick] [--models NAME ...] [--prepare]

The audio is `benchmarks.audio_set`: ~20 requests, each in 7 voices (Piper joe at three speeds,
eSpeak NG American and British at two rates), 16 kHz as `read_wav` gives it. Each model runs in
a child process of its own (spawned, so one model's threads and memory never touch the next),
loaded as `assistant transcribe` loads it (`single_stage`), one clip after an untimed warm-up
clip. Reported per model: WER overall and per voice (normalised text: lower case, no
punctuation, numbers as digits whether said "ten" or written "10", common contractions
expanded), the real-time factor (decode seconds / audio seconds) p50/p95, the load time and the
child's peak resident memory. A model that is not ready (openai-whisper's conversion not done)
is skipped and reported, unless `--prepare` does its one-time preparation first.

WER is the corpus WER: all errors over all reference words, not the mean of per-clip rates.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.audio.wav import read_wav
from assistant.commands.common import single_stage
from assistant.commands.models import catalog_models
from assistant.config import DEFAULT_MODELS
from assistant.core.stage import StageContext
from assistant.nlu.numbers import find_numbers
from assistant.progress import ProgressBar
from assistant.stages.asr.whisper_ct2 import WhisperASR
from benchmarks.audio_set import (
    QUICK_TEXTS,
    TEXTS,
    VOICES,
    build,
    machine_info,
    peak_rss_mib,
    summary,
    write_results,
)

RESULTS = Path(__file__).resolve().parent / "results" / "asr.json"

# --- text normalisation and WER ------------------------------------------------------------------

# Contractions Whisper may or may not write out: expanded on both sides, so neither is an error.
_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\b(what|that|it|there|here|where|how|who|he|she)'s\b", r"\1 is"),
        (r"\blet's\b", "let us"),
        (r"\bcan't\b", "can not"),
        (r"\bwon't\b", "will not"),
        (r"\bcannot\b", "can not"),
        (r"n't\b", " not"),
        (r"'re\b", " are"),
        (r"'m\b", " am"),
        (r"'ll\b", " will"),
        (r"'ve\b", " have"),
    )
)
# British spellings Whisper sometimes picks for American references; "ok" has two spellings.
_SPELLING = {
    "centimetres": "centimeters", "centimetre": "centimeter", "kilometres": "kilometers",
    "kilometre": "kilometer", "metres": "meters", "metre": "meter", "litres": "liters",
    "litre": "liter", "ok": "okay",
}  # fmt: skip
_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "×": " times "}
_TIMES = re.compile(r"(?<=\d)\s*x\s*(?=\d)")  # "17 x 23", as Whisper sometimes writes a product
_WORD = re.compile(r"\d+(?:\.\d+)?|[a-z]+")


def _digits(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def normalize(text: str) -> list[str]:
    """Words to compare: 'Set a timer for ten minutes.' -> set a timer for 10 minutes."""
    text = text.lower().replace("’", "'")
    # Numbers first, while "twenty-three" and "1,000" still have their hyphen and comma. The
    # assistant's own number grammar reads them, so "ten" and "10" both become "10".
    pieces, last = [], 0
    for start, end, value in find_numbers(text):
        pieces += [text[last:start], f" {_digits(value)} "]
        last = end
    text = "".join([*pieces, text[last:]])
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = _TIMES.sub(" times ", text)
    text = text.replace("'", "")  # possessives and the rest: "today's" -> "todays" on both sides
    return [_SPELLING.get(word, word) for word in _WORD.findall(text)]


@dataclass(frozen=True)
class Errors:
    """Edit operations from a reference to a hypothesis, and the reference's length."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    words: int = 0

    def __add__(self, other: Errors) -> Errors:
        return Errors(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.words + other.words,
        )

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        if self.words == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.words


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> Errors:
    """Levenshtein alignment of two word sequences, counting each kind of edit. Of the
    alignments with the fewest edits, the one with the most substitutions is kept (a swapped
    pair of words is two substitutions, not a deletion and an insertion): the WER is the same
    either way, only its breakdown depends on this choice."""
    # cost[j] for the current row: (edits, substitutions, deletions, insertions).
    previous = [(j, 0, 0, j) for j in range(len(hypothesis) + 1)]
    for i, ref_word in enumerate(reference, start=1):
        current = [(i, 0, i, 0)]
        for j, hyp_word in enumerate(hypothesis, start=1):
            e, s, d, n = previous[j - 1]
            diagonal = (e, s, d, n) if ref_word == hyp_word else (e + 1, s + 1, d, n)
            e, s, d, n = previous[j]
            deletion = (e + 1, s, d + 1, n)
            e, s, d, n = current[j - 1]
            insertion = (e + 1, s, d, n + 1)
            current.append(min(diagonal, deletion, insertion, key=_fewest_edits))
        previous = current
    _, substitutions, deletions, insertions = previous[-1]
    return Errors(substitutions, deletions, insertions, len(reference))


def _fewest_edits(cost: tuple[int, int, int, int]) -> tuple[int, int]:
    edits, substitutions, _, _ = cost
    return edits, -substitutions


def word_errors(reference: str, hypothesis: str) -> Errors:
    return align(normalize(reference), normalize(hypothesis))


# --- one model, in a child process ---------------------------------------------------------------


def measure_model(
    model: str, models_path: Path, clips: list[tuple[str, str, str]]
) -> dict[str, Any]:
    """Runs in a spawned child: load the model, decode every (text, voice, path) clip."""
    return asyncio.run(_measure(model, models_path, clips))


async def _measure(
    model: str, models_path: Path, clips: list[tuple[str, str, str]]
) -> dict[str, Any]:
    audios = [read_wav(path) for _, _, path in clips]
    rss_before = peak_rss_mib()
    started = time.perf_counter()
    async with single_stage(models_path, "asr", model) as stage:
        load_s = time.perf_counter() - started
        assert isinstance(stage, WhisperASR)
        # First-call costs are not decoding.
        await stage.run_blocking(stage.engine.recognize, audios[0])
        rows = []
        for (text, voice, _), audio in zip(clips, audios, strict=True):
            started = time.perf_counter()
            result = await stage.run_blocking(stage.engine.recognize, audio)
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "voice": voice,
                    "reference": text,
                    "hypothesis": result.text,
                    "audio_s": round(audio.duration, 3),
                    "decode_s": round(seconds, 4),
                }
            )
    return {
        "load_s": round(load_s, 3),
        "rss_before_load_mib": round(rss_before, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "rows": rows,
    }


# --- the benchmark -------------------------------------------------------------------------------


def ready_or_reason(models_path: Path, names: list[str], prepare: bool) -> dict[str, str | None]:
    """Each asr model's problem (None: ready). Ready models also get their one-time work here
    (assembling Whisper base, which their first load would otherwise do), so that it is not
    counted as load time."""
    status: dict[str, str | None] = {}
    context = StageContext()
    models = [m for m in catalog_models(models_path) if m.kind == "asr"]
    unknown = set(names) - {m.name for m in models}
    if unknown:
        known = ", ".join(m.name for m in models)
        raise SystemExit(f"no asr model {', '.join(sorted(unknown))} (asr models: {known})")
    for model in models:
        if names and model.name not in names:
            continue
        problem = model.cls.readiness(model.params, context)
        if problem is None or prepare:
            bar = ProgressBar()
            try:
                model.cls.prepare(model.params, context, bar)
            finally:
                bar.close()
            problem = model.cls.readiness(model.params, context)
        status[model.name] = problem
    return status


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """WER and RTF of one model's clips; each row also gets its own error count."""
    per_voice: dict[str, Errors] = {}
    for row in rows:
        errors = word_errors(row["reference"], row["hypothesis"])
        row["errors"] = errors.errors
        per_voice[row["voice"]] = per_voice.get(row["voice"], Errors()) + errors
    total = sum(per_voice.values(), Errors())
    rtf = [row["decode_s"] / row["audio_s"] for row in rows]
    return {
        "wer": round(total.wer, 4),
        "errors": asdict(total),
        "wer_per_voice": {voice: round(e.wer, 4) for voice, e in per_voice.items()},
        "rtf": summary(rtf, digits=4),
        "decode_s": summary([row["decode_s"] for row in rows]),
        "audio_s_total": round(sum(row["audio_s"] for row in rows), 1),
    }


def print_tables(results: dict[str, dict[str, Any]], skipped: dict[str, str]) -> None:
    voices = [v.label for v in VOICES]
    print("\n| model | WER % | RTF p50 | RTF p95 | load s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {100 * r['wer']:.1f} | {r['rtf']['p50']:.3f} | {r['rtf']['p95']:.3f} "
            f"| {r['load_s']:.1f} | {r['peak_rss_mib']:.0f} |"
        )
    for name, reason in skipped.items():
        print(f"| {name} | skipped: {reason} | | | | |")
    print(f"\n| model | {' | '.join(voices)} |")
    print(f"|---|{'---|' * len(voices)}")
    for name, r in results.items():
        cells = " | ".join(f"{100 * r['wer_per_voice'].get(v, 0.0):.1f}" for v in voices)
        print(f"| {name} (WER %) | {cells} |")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.asr",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{len(QUICK_TEXTS)} texts: a smoke test"
    )
    parser.add_argument("--models", nargs="+", default=[], metavar="NAME", help="default: all")
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="do the one-time preparation of models that need it (writes to the model cache)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    status = ready_or_reason(DEFAULT_MODELS, args.models, args.prepare)
    clips = build(QUICK_TEXTS if args.quick else TEXTS)
    jobs = [(c.text, c.voice, str(c.path)) for c in clips]
    skipped = {name: reason for name, reason in status.items() if reason is not None}
    results: dict[str, dict[str, Any]] = {}
    spawn = multiprocessing.get_context("spawn")
    for name in (n for n, reason in status.items() if reason is None):
        print(f"  {name}: {len(jobs)} clips", file=sys.stderr)
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            measured = pool.submit(measure_model, name, DEFAULT_MODELS, jobs).result()
        scored = score(measured["rows"])
        results[name] = {
            **{k: v for k, v in measured.items() if k != "rows"},
            **scored,
            # Only the misrecognized clips: the rest is the reference text again.
            "misrecognized": [row for row in measured["rows"] if row["errors"]],
        }
    print_tables(results, skipped)
    result: dict[str, Any] = {
        "benchmark": "speech recognition",
        "audio": {
            "texts": len(set(c.text for c in clips)),
            "voices": [v.label for v in VOICES],
            "clips": len(clips),
            "seconds": round(sum(c.audio.duration for c in clips), 1),
        },
        "note": "WER on normalised text (lower case, no punctuation, numbers as digits); RTF = "
        "decode seconds / audio seconds, after one warm-up clip; load_s = importing the runtime "
        "and loading the weights; peak RSS = the model's child process (VmHWM)",
        "machine": machine_info(args.quick),
        "models": results,
        "skipped": skipped,
    }
    write_results(args.output, result)
    return result


if __name__ == "__main__":
    main()
