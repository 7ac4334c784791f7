"""Speech recognition: word error rate and speed of every asr model of the catalog.

Run from the project root:
  python -m benchmarks.asr [--quick] [--models NAME ...] [--parts tuning held-out]
                           [--prompts none skills] [--rescore none word sentence]
                           [--lm-weights W ...] [--prepare]

The audio is `benchmarks.audio_set`, in two parts. **tuning**: 26 requests (20 assistant-style
ones and 6 that begin with a short word Whisper tends to lose: "add", "set", "what's", "thank")
in 7 voices (Piper joe at three speeds, eSpeak NG American and British at two rates): what the
padding and the prompt were chosen on. **held-out**: 22 other requests in 9 other voices (eSpeak
NG accents, variants and rates, Piper joe at two other speeds), never used to choose anything.
16 kHz as `read_wav` gives it. Each model runs in a child process of its own (spawned, so one
model's threads and memory never touch the next), loaded as `assistant transcribe` loads it
(`single_stage`), one clip after an untimed warm-up clip, and decodes every clip once unprimed
(`none`) and once primed as its catalog params prime it (`skills`: the built-in skills'
examples). With `--rescore word` (or `sentence`), each prompt is also decoded as the beam's N
best, rescored with the skills' language model at each `--lm-weights` (default: the model's
catalog `lm_weight`) and named `skills+lm0.15` (per word) or `skills+lm0.15/sentence`; the
decode time of a rescored setting is the N-best decode plus choosing. Reported per model,
setting and part: WER overall and per voice (normalised text:
lower case, no punctuation, numbers as digits whether said "ten" or written "10", common
contractions expanded), decode time and real-time factor p50/p95, the load time and the
child's peak resident memory. A model that is not ready (openai-whisper's conversion not done)
is skipped and reported, unless `--prepare` does its one-time preparation first.

WER is the corpus WER: all errors over all reference words, not the mean of per-clip rates.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.audio.wav import Audio, read_wav
from assistant.commands.common import single_stage
from assistant.commands.models import catalog_models
from assistant.config import DEFAULT_MODELS
from assistant.core.stage import StageContext
from assistant.nlu.numbers import find_numbers
from assistant.progress import ProgressBar
from assistant.speech.asr_ct2 import FasterWhisperEngine
from assistant.speech.rescore import LM_WEIGHT, Rescorer
from assistant.speech.whisper import Recognized, WhisperEngine
from assistant.stages.asr.vocabulary import skills_lm
from assistant.stages.asr.whisper_ct2 import WhisperASR
from benchmarks.audio_set import (
    HELDOUT_TEXTS,
    HELDOUT_VOICES,
    QUICK_TEXTS,
    START_TEXTS,
    TEXTS,
    VOICES,
    Clip,
    build,
    machine_info,
    peak_rss_mib,
    summary,
    write_results,
)
from benchmarks.stats import percentile

RESULTS = Path(__file__).resolve().parent / "results" / "asr.json"
TUNING, HELD_OUT = "tuning", "held-out"
PARTS = (TUNING, HELD_OUT)
PROMPTS = ("none", "skills")
RESCORE = ("none", "word", "sentence")
TUNING_TEXTS = TEXTS + START_TEXTS

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

Job = tuple[str, str, str, str]  # text, voice, WAV path, part (tuning or held-out)


# prompt, rescoring (`none` or per `word`/`sentence`), LM weight (None: the model's catalog one)
Setting = tuple[str, str, float | None]


def label(prompt: str, rescore: str, weight: float | None) -> str:
    """How a setting is named in the results: `skills`, `skills+lm0.2`, `skills+lm0.2/sentence`."""
    if rescore == "none":
        return prompt
    return f"{prompt}+lm{weight:g}" + ("" if rescore == "word" else f"/{rescore}")


def measure_model(
    model: str, models_path: Path, clips: list[Job], prompts: list[str], settings: list[Setting]
) -> dict[str, Any]:
    """Runs in a spawned child: load the model, decode every clip once per prompt and way of
    choosing the transcript (Whisper's best, or rescored)."""
    return asyncio.run(_measure(model, models_path, clips, prompts, settings))


async def _measure(
    model: str, models_path: Path, clips: list[Job], prompts: list[str], settings: list[Setting]
) -> dict[str, Any]:
    audios = [read_wav(path) for _, _, path, _ in clips]
    rss_before = peak_rss_mib()
    started = time.perf_counter()
    async with single_stage(models_path, "asr", model) as stage:
        load_s = time.perf_counter() - started
        assert isinstance(stage, WhisperASR)
        engine = stage.engine
        primed = engine.prompt  # what the catalog's params give (`prompt: skills`)
        rescorer = getattr(engine, "rescorer", None)  # the catalog's `rescore`, `lm_weight`
        weight = rescorer.weight if isinstance(rescorer, Rescorer) else LM_WEIGHT
        settings = [(p, r, weight if w is None and r != "none" else w) for p, r, w in settings]
        # First-call costs are not decoding.
        await stage.run_blocking(engine.recognize, audios[0])
        rows: dict[str, list[dict[str, Any]]] = {}
        for prompt in prompts:
            engine.prompt = primed if prompt == "skills" else None
            chosen = [s for s in settings if s[0] == prompt]
            for (text, voice, _, part), audio in zip(clips, audios, strict=True):
                decoded = await stage.run_blocking(_decode, engine, audio, chosen)
                for setting, (result, seconds) in decoded.items():
                    rows.setdefault(label(*setting), []).append(
                        {
                            "part": part,
                            "voice": voice,
                            "reference": text,
                            "hypothesis": result.text,
                            "confidence": round(result.confidence, 4),
                            "audio_s": round(audio.duration, 3),
                            "decode_s": round(seconds, 4),
                        }
                    )
    return {
        "load_s": round(load_s, 3),
        "rss_before_load_mib": round(rss_before, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "prompt": primed,
        "rows": rows,
    }


def _decode(
    engine: WhisperEngine, audio: Audio, settings: list[Setting]
) -> dict[Setting, tuple[Recognized, float]]:
    """One clip in every setting, timed: Whisper's best path as the engine decodes it without
    a rescorer; rescored ones from one N-best decode (its time plus that of choosing), as the
    engine decodes them with a rescorer."""
    out: dict[Setting, tuple[Recognized, float]] = {}
    for setting in (s for s in settings if s[1] == "none"):
        rescorer = getattr(engine, "rescorer", None)
        if rescorer is not None:
            engine.rescorer = None  # type: ignore[attr-defined]  # Whisper's own best path
        started = time.perf_counter()
        out[setting] = engine.recognize(audio), time.perf_counter() - started
        if rescorer is not None:
            engine.rescorer = rescorer  # type: ignore[attr-defined]
    rescored = [s for s in settings if s[1] != "none"]
    if not rescored:
        return out
    assert isinstance(engine, FasterWhisperEngine), "rescoring needs the faster-whisper backend"
    samples = engine.heard(audio)
    assert samples is not None
    started = time.perf_counter()
    hypotheses = engine.hypotheses(samples)
    fallback = engine.decode_best(samples) if hypotheses is None else None
    decode_s = time.perf_counter() - started
    lm = skills_lm(())
    for setting in rescored:
        if fallback is not None:
            out[setting] = fallback, decode_s
            continue
        assert hypotheses is not None
        started = time.perf_counter()
        assert setting[2] is not None
        rescorer = Rescorer(lm, setting[2], per_word=setting[1] == "word")
        result = engine.recognized(rescorer.choose(hypotheses))
        out[setting] = result, decode_s + time.perf_counter() - started
    return out


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
        "decode_s_values": [row["decode_s"] for row in rows],
        "audio_s_total": round(sum(row["audio_s"] for row in rows), 1),
    }


def scored_parts(rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """prompt -> part -> score, with the misrecognized clips (the rest is the reference again)."""
    out: dict[str, dict[str, Any]] = {}
    for prompt, prompt_rows in rows.items():
        out[prompt] = {}
        for part in PARTS:
            part_rows = [r for r in prompt_rows if r["part"] == part]
            if not part_rows:
                continue
            result = score(part_rows)
            result["misrecognized"] = [
                {k: v for k, v in r.items() if k != "part"} for r in part_rows if r["errors"]
            ]
            # Every clip's confidence, right or wrong: what a confirmation threshold is chosen on.
            result["clips"] = [
                {k: r[k] for k in ("voice", "reference", "hypothesis", "confidence", "errors")}
                for r in part_rows
            ]
            out[prompt][part] = result
    return out


def print_tables(results: dict[str, dict[str, Any]], skipped: dict[str, str]) -> None:
    print(
        "\n| model | prompt | WER tuning % | WER held-out % | decode p50 / p95 ms | load s | "
        "peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        for prompt, parts in r["prompts"].items():
            wer = {p: f"{100 * parts[p]['wer']:.1f}" if p in parts else "-" for p in PARTS}
            decode = [row for part in parts.values() for row in part["decode_s_all"]]
            p50, p95 = (1000 * v for v in (statistics.median(decode), percentile(decode, 0.95)))
            print(
                f"| {name} | {prompt} | {wer[TUNING]} | {wer[HELD_OUT]} | {p50:.0f} / {p95:.0f} "
                f"| {r['load_s']:.1f} | {r['peak_rss_mib']:.0f} |"
            )
    for name, reason in skipped.items():
        print(f"| {name} | skipped: {reason} | | | | | |")
    for part, voices in ((TUNING, VOICES), (HELD_OUT, HELDOUT_VOICES)):
        labels = [v.label for v in voices]
        print(f"\n{part}, WER % per voice:\n\n| model, prompt | {' | '.join(labels)} |")
        print(f"|---|{'---|' * len(labels)}")
        for name, r in results.items():
            for prompt, parts in r["prompts"].items():
                if part in parts:
                    per = parts[part]["wer_per_voice"]
                    cells = " | ".join(f"{100 * per.get(v, 0.0):.1f}" for v in labels)
                    print(f"| {name}, {prompt} | {cells} |")


def clips_of(parts: list[str], quick: bool) -> list[Clip]:
    clips: list[Clip] = []
    if TUNING in parts:
        clips += build(QUICK_TEXTS if quick else TUNING_TEXTS, VOICES)
    if HELD_OUT in parts:
        clips += build(HELDOUT_TEXTS[:5] if quick else HELDOUT_TEXTS, HELDOUT_VOICES)
    return clips


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.asr",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="5 texts per part: a smoke test")
    parser.add_argument("--models", nargs="+", default=[], metavar="NAME", help="default: all")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument(
        "--prompts", nargs="+", default=list(PROMPTS), choices=PROMPTS,
        help="none: Whisper unprimed; skills: as the catalog's `prompt` param primes it",
    )  # fmt: skip
    parser.add_argument(
        "--rescore",
        nargs="+",
        default=["none"],
        choices=RESCORE,
        help="none: Whisper's best transcript; word/sentence: the beam's best rescored with "
        "the skills' language model, per word or per sentence (faster-whisper models only)",
    )
    parser.add_argument(
        "--lm-weights", nargs="+", type=float, default=[None], metavar="W",
        help="language model weights to rescore with (default: each model's `lm_weight`)",
    )  # fmt: skip
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="do the one-time preparation of models that need it (writes to the model cache)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    status = ready_or_reason(DEFAULT_MODELS, args.models, args.prepare)
    clips = clips_of(args.parts, args.quick)
    part_of = {c.voice: TUNING if c.voice in {v.label for v in VOICES} else HELD_OUT for c in clips}
    jobs = [(c.text, c.voice, str(c.path), part_of[c.voice]) for c in clips]
    skipped = {name: reason for name, reason in status.items() if reason is not None}
    results: dict[str, dict[str, Any]] = {}
    spawn = multiprocessing.get_context("spawn")
    settings = [
        (prompt, rescore, weight if rescore != "none" else None)
        for prompt in args.prompts
        for rescore in args.rescore
        for weight in (args.lm_weights if rescore != "none" else [None])
    ]
    for name in (n for n, reason in status.items() if reason is None):
        print(f"  {name}: {len(jobs)} clips x {len(settings)} settings", file=sys.stderr)
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            measured = pool.submit(
                measure_model, name, DEFAULT_MODELS, jobs, args.prompts, settings
            ).result()
        prompts = scored_parts(measured["rows"])
        for parts in prompts.values():
            for part in parts.values():
                part["decode_s_all"] = part.pop("decode_s_values")
        results[name] = {**{k: v for k, v in measured.items() if k != "rows"}, "prompts": prompts}
    print_tables(results, skipped)
    for r in results.values():  # the per-clip times were for the tables only
        for parts in r["prompts"].values():
            for part in parts.values():
                part.pop("decode_s_all")
    result: dict[str, Any] = {
        "benchmark": "speech recognition",
        "audio": {
            part: {
                "texts": len({c.text for c in clips if part_of[c.voice] == part}),
                "voices": sorted({c.voice for c in clips if part_of[c.voice] == part}),
                "clips": sum(1 for c in clips if part_of[c.voice] == part),
                "seconds": round(
                    sum(c.audio.duration for c in clips if part_of[c.voice] == part), 1
                ),
            }
            for part in args.parts
        },
        "note": "WER on normalised text (lower case, no punctuation, numbers as digits); "
        "tuning: the texts and voices the prompt and padding were chosen on; held-out: other "
        "texts and voices, never tuned on; decode = seconds per clip after one warm-up clip; "
        "RTF = decode seconds / audio seconds; load_s = importing the runtime and loading the "
        "weights; peak RSS = the model's child process (VmHWM)",
        "machine": machine_info(args.quick),
        "models": results,
        "skipped": skipped,
    }
    write_results(args.output, result)
    return result


if __name__ == "__main__":
    main()
