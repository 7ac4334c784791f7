"""Speech synthesis: time to first audio and real-time factor of every tts model of the catalog.

Run from the project root:  python -m benchmarks.tts [--quick] [--rounds N] [--models NAME ...]

Each model is loaded as `assistant say` loads it (`single_stage`) and speaks ~20 assistant
replies of one to four sentences, `--rounds` times after one untimed reply. A stage streams a
reply sentence by sentence, so what the user waits for is the first `SpeechChunk`: time to first
audio is measured from handing the stage the `Reply` to that chunk. The real-time factor is the
whole reply's synthesis time over its speech (the pauses the stage puts between sentences are
silence it does not synthesize, so they are left out); below 1, every next sentence is ready
before the previous one has finished playing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from assistant.commands.common import single_stage
from assistant.config import DEFAULT_MODELS, load_models
from assistant.core.stage import Stage
from assistant.messages import Reply, SpeechChunk
from assistant.stages.tts.base import TTSParams
from benchmarks.audio_set import machine_info, summary, write_results

RESULTS = Path(__file__).resolve().parent / "results" / "tts.json"
REPLIES: tuple[str, ...] = (
    "Okay.",
    "It's 3:45 PM.",
    "Today is Tuesday, the 12th of March.",
    "Timer set for 10 minutes.",
    "You have 4 minutes and 30 seconds left on your timer.",
    "I've added oat milk and eggs to your shopping list.",
    "Your shopping list has oat milk, eggs, bread and apples.",
    "17 times 23 is 391.",
    "3 inches is 7.62 centimeters.",
    "Why don't skeletons fight each other? They don't have the guts.",
    "I'm doing well, thanks for asking. How about you?",
    "Sure. I've set a timer for an hour and a half. I'll let you know when it's done.",
    "Bread is no longer on your list. You still have oat milk, eggs and apples.",
    "Good morning! I hope you slept well. What can I do for you today?",
    "Sorry, I can't book flights. I can set timers, keep a shopping list and do sums.",
    "Two pounds is about 907 grams. That should be plenty for six people.",
    "I can tell you the time and the date, set timers, keep your shopping list, do sums and "
    "convert units. I also know a few jokes. Just ask!",
    "Your timer is done. It ran for 10 minutes. Would you like me to set another one?",
    "Sorry, I didn't catch that. Could you say it again?",
    "You're welcome. Have a lovely evening, and enjoy your dinner!",
)
QUICK_REPLIES: tuple[str, ...] = REPLIES[1::3]


async def speak(stage: Stage, text: str, turn: int) -> dict[str, Any]:
    """One reply through the stage: time to its first chunk, its whole time and its audio."""
    reply = Reply(session_id="bench-tts", turn_id=turn, text=text)
    started = time.perf_counter()
    first: float | None = None
    samples, sentences, rate = 0, 0, 0
    async for message in stage.process(reply):
        if not isinstance(message, SpeechChunk):
            continue
        if first is None:
            first = time.perf_counter()
        samples += len(message.pcm) // 2
        sentences += 1
        rate = message.sample_rate
    seconds = time.perf_counter() - started
    assert first is not None and rate, f"no speech for {text!r}"
    assert isinstance(stage.params, TTSParams)
    pauses_s = (sentences - 1) * stage.params.sentence_pause_ms / 1000
    speech_s = samples / rate - pauses_s
    return {
        "text": text,
        "sentences": sentences,
        "first_audio_s": round(first - started, 4),
        "synthesis_s": round(seconds, 4),
        "speech_s": round(speech_s, 3),
        "rtf": round(seconds / speech_s, 4),
    }


async def measure(model: str, replies: tuple[str, ...], rounds: int) -> dict[str, Any]:
    started = time.perf_counter()
    async with single_stage(DEFAULT_MODELS, "tts", model) as stage:
        load_s = time.perf_counter() - started
        await speak(stage, "Hello there.", 0)  # first-call costs are not synthesis
        rows = []
        for round_ in range(rounds):
            for index, text in enumerate(replies):
                rows.append(await speak(stage, text, 1 + round_ * len(replies) + index))
            print(f"  {model}: round {round_ + 1}/{rounds}", file=sys.stderr)
    multi = [r["first_audio_s"] for r in rows if r["sentences"] > 1]
    return {
        "load_s": round(load_s, 3),
        "first_audio_s": summary([r["first_audio_s"] for r in rows], digits=4),
        # The case streaming is for: the first sentence plays while the rest is synthesized.
        "first_audio_s_multi_sentence": summary(multi, digits=4) if multi else None,
        "rtf": summary([r["rtf"] for r in rows], digits=4),
        "synthesis_s": summary([r["synthesis_s"] for r in rows]),
        "speech_s_total": round(sum(r["speech_s"] for r in rows), 1),
        "replies": rows[: len(replies)],  # the first round: text, sentences, one measurement
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{len(QUICK_REPLIES)} replies, 1 round"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=None, metavar="NAME", help="default: all")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    replies, rounds = (QUICK_REPLIES, 1) if args.quick else (REPLIES, args.rounds)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    models = args.models or list(load_models(DEFAULT_MODELS)["tts"])

    results = {model: asyncio.run(measure(model, replies, rounds)) for model in models}

    print("\n| voice | first audio p50/p95 ms | 2+ sentences p50/p95 ms | RTF p50/p95 | load s |")
    print("|---|---|---|---|---|")
    for model, r in results.items():
        first, multi, rtf = r["first_audio_s"], r["first_audio_s_multi_sentence"], r["rtf"]
        multi_text = f"{1000 * multi['p50']:.0f}/{1000 * multi['p95']:.0f}" if multi else "-"
        print(
            f"| {model} | {1000 * first['p50']:.0f}/{1000 * first['p95']:.0f} | {multi_text} "
            f"| {rtf['p50']:.3f}/{rtf['p95']:.3f} | {r['load_s']:.2f} |"
        )
    result: dict[str, Any] = {
        "benchmark": "speech synthesis",
        "replies": len(replies),
        "rounds": rounds,
        "note": "first audio = Reply in to the first SpeechChunk out (one sentence synthesized); "
        "RTF = synthesis time / speech duration, pauses between sentences excluded; "
        "one untimed reply first",
        "machine": machine_info(args.quick),
        "models": results,
    }
    write_results(args.output, result)
    return result


if __name__ == "__main__":
    main()
