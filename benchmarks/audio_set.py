"""The spoken requests the speech benchmarks share, made with the project's own voices.

Run from the project root:  python -m benchmarks.audio_set [--quick] [--cache-dir DIR]

About 20 assistant-style requests (timers, the shopping list, times, sums, conversions, small
talk, a few long sentences), each spoken by several voices: Piper joe at length_scale 0.85, 1.0
and 1.2, and eSpeak NG's American and British voices at two rates. The ASR benchmark adds
`START_TEXTS` (requests beginning with a short word) to these for its tuning part, and keeps a
held-out part: `HELDOUT_TEXTS` in `HELDOUT_VOICES`, never used to choose anything. Every voice
is a `tts` stage from a catalog that extends models.yaml (`extends: default`), run through
`single_stage` as `assistant say` runs it; nothing but the catalog's own synthesis makes the audio.

Each clip is written once as a WAV at the voice's own rate into the cache folder (default
benchmarks/.cache/audio, which ignores itself in git) and read back with `read_wav`, so the
benchmarks hear exactly what `assistant voice --input` would: 16 kHz mono int16. A clip is keyed
by its text and voice settings, so changing either makes it again.

`conversation` joins clips with pauses into one recording, for the real-time benchmarks. Also
here, because every speech benchmark needs them: `summary` (p50/p95/max with the percentile of
`benchmarks.stats`), `peak_rss_mib`, `machine_info` and `write_results`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from assistant.audio.wav import SAMPLE_RATE, Audio, read_wav, write_wav
from assistant.commands.common import run_stage, single_stage
from assistant.core.stage import Stage
from assistant.messages import Reply, SpeechChunk
from benchmarks.stats import percentile

PROJECT = Path(__file__).resolve().parent.parent
CACHE = PROJECT / "benchmarks" / ".cache" / "audio"
PAD_S = 0.25  # silence around each clip: what the VAD's speech_pad_ms hands Whisper in a turn
FORMAT = 1  # bump to remake every cached clip after a change in how clips are made

# Digits and spelled-out numbers both appear on purpose: the WER normaliser must equate them.
TEXTS: tuple[str, ...] = (
    "Set a timer for ten minutes.",
    "How much time is left on my timer?",
    "Cancel the timer.",
    "Add oat milk and eggs to my shopping list.",
    "What's on my shopping list?",
    "Remove bread from the list.",
    "What time is it?",
    "What's the date today?",
    "What is 17 times 23?",
    "What's two hundred and fifty plus 75?",
    "How many centimeters are in 3 inches?",
    "Convert 5 kilometers to miles.",
    "Tell me a joke.",
    "Hello, how are you doing today?",
    "What can you do?",
    "Thank you, that's all for now.",
    "Set a timer for an hour and a half so I remember to take the bread out of the oven.",
    "Could you add apples, bananas and a bottle of olive oil to my shopping list please?",
    "I'm cooking dinner for six people tonight, how many grams are there in two pounds?",
    "Good morning! I slept really well, and I would like to hear something funny.",
)
# Requests that begin with a short word Whisper tends to lose or mishear at the very start
# ("add" -> "and", "what's" -> "was"); tuning texts like TEXTS.
START_TEXTS: tuple[str, ...] = (
    "Add coffee to my shopping list.",
    "Add eggs and bread to the list.",
    "What is twelve times nine?",
    "Set a timer for five minutes.",
    "Thank you.",
    "What's nine plus four?",
)
# The held-out part of the ASR benchmark: texts and voices never used to choose anything (the
# prompt, the padding, the default model). Written before any result on them was seen; none is
# an example of the built-in skills.
HELDOUT_TEXTS: tuple[str, ...] = (
    "Add butter and two lemons to my shopping list.",
    "Set a timer for twelve minutes.",
    "What's eighteen divided by three?",
    "Thank you very much.",
    "Put tomatoes on the list.",
    "Read out what I need to buy.",
    "Start a timer for forty five seconds.",
    "What is nine times seven?",
    "How many ounces are in a kilogram?",
    "Stop the timer please.",
    "Take rice off my list.",
    "Which day of the week is it today?",
    "Add a dozen eggs to the list.",
    "Set a timer for three hours.",
    "Tell me a funny story.",
    "Am I talking to a robot?",
    "What is sixty four minus nineteen?",
    "Convert ten pounds to kilograms.",
    "Thanks, goodbye.",
    "Add cheese, yogurt and a loaf of bread to my shopping list.",
    "What's the time right now?",
    "Set a two minute timer for the tea.",
)
# --quick: a short, a medium and a long request of different kinds.
QUICK_TEXTS: tuple[str, ...] = (TEXTS[0], TEXTS[4], TEXTS[8], TEXTS[10], TEXTS[17])


@dataclass(frozen=True)
class Voice:
    """A catalog tts model made for the benchmark: a backend and its params."""

    label: str
    backend: str
    params: dict[str, Any]


VOICES: tuple[Voice, ...] = (
    Voice("piper-joe-0.85", "piper", {"voice": "joe", "length_scale": 0.85}),
    Voice("piper-joe-1.0", "piper", {"voice": "joe", "length_scale": 1.0}),
    Voice("piper-joe-1.2", "piper", {"voice": "joe", "length_scale": 1.2}),
    Voice("espeak-en-us-150", "espeak", {"voice": "en-us", "words_per_minute": 150}),
    Voice("espeak-en-us-200", "espeak", {"voice": "en-us", "words_per_minute": 200}),
    Voice("espeak-en-gb-150", "espeak", {"voice": "en", "words_per_minute": 150}),
    Voice("espeak-en-gb-200", "espeak", {"voice": "en", "words_per_minute": 200}),
)
PIPER_VOICES: tuple[Voice, ...] = tuple(v for v in VOICES if v.backend == "piper")
# Held out (see HELDOUT_TEXTS): other eSpeak NG accents, variants and rates, and Piper joe (the
# only packaged Piper voice) at length scales between the tuning ones.
HELDOUT_VOICES: tuple[Voice, ...] = (
    Voice("espeak-en-029-170", "espeak", {"voice": "en-029", "words_per_minute": 170}),
    Voice("espeak-scotland-200", "espeak", {"voice": "en-gb-scotland", "words_per_minute": 200}),
    Voice("espeak-rp-190", "espeak", {"voice": "en-gb-x-rp", "words_per_minute": 190}),
    Voice("espeak-nyc-180", "espeak", {"voice": "en-us-nyc", "words_per_minute": 180}),
    Voice("espeak-gbclan-220", "espeak", {"voice": "en-gb-x-gbclan", "words_per_minute": 220}),
    Voice("espeak-us-f3-190", "espeak", {"voice": "en-us+f3", "words_per_minute": 190}),
    Voice("espeak-en-m3-170", "espeak", {"voice": "en+m3", "words_per_minute": 170, "pitch": 35}),
    Voice("piper-joe-0.95", "piper", {"voice": "joe", "length_scale": 0.95}),
    Voice("piper-joe-1.1", "piper", {"voice": "joe", "length_scale": 1.1}),
)


@dataclass(frozen=True)
class Clip:
    text: str  # the reference transcript
    voice: str  # a Voice label
    audio: Audio  # 16 kHz mono, as read_wav gives it
    path: Path  # the cached WAV (the voice's own sample rate)


def _catalog(cache_dir: Path, voices: Sequence[Voice]) -> Path:
    """A models file adding the benchmark voices to the project's catalog."""
    tts = {v.label: {"backend": v.backend, "params": v.params} for v in voices}
    path = cache_dir / "voices.yaml"
    path.write_text(yaml.safe_dump({"extends": "default", "tts": tts}, sort_keys=False))
    return path


def _clip_path(cache_dir: Path, voice: Voice, text: str) -> Path:
    key = json.dumps([FORMAT, voice.backend, voice.params, text], sort_keys=True)
    return cache_dir / voice.label / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.wav"


def _ignore_in_git(cache_dir: Path) -> None:
    """Generated audio is never committed: the cache root ignores itself, as .pytest_cache does."""
    root = cache_dir.parent if cache_dir.parent.name == ".cache" else cache_dir
    root.mkdir(parents=True, exist_ok=True)
    marker = root / ".gitignore"
    if not marker.exists():
        marker.write_text("# made by benchmarks/audio_set.py\n*\n")


async def generate(
    texts: Sequence[str] = TEXTS,
    voices: Sequence[Voice] = VOICES,
    cache_dir: Path = CACHE,
) -> list[Clip]:
    """Every text in every voice (voice-major order), synthesized only when not cached."""
    _ignore_in_git(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    catalog = _catalog(cache_dir, voices)
    clips: list[Clip] = []
    for voice in voices:
        paths = {text: _clip_path(cache_dir, voice, text) for text in texts}
        missing = [text for text, path in paths.items() if not path.is_file()]
        if missing:
            print(f"  synthesizing {len(missing)} clips with {voice.label}", file=sys.stderr)
            async with single_stage(catalog, "tts", voice.label) as stage:
                for text in missing:
                    _write_clip(await _speak(stage, text), paths[text])
        clips.extend(Clip(text, voice.label, read_wav(paths[text]), paths[text]) for text in texts)
    return clips


async def _speak(stage: Stage, text: str) -> list[SpeechChunk]:
    reply = Reply(session_id="audio-set", turn_id=1, text=text)
    return [m for m in await run_stage(stage, reply) if isinstance(m, SpeechChunk)]


def _write_clip(chunks: list[SpeechChunk], path: Path) -> None:
    rate = chunks[0].sample_rate
    pad = np.zeros(int(PAD_S * rate), dtype=np.int16)
    speech = [np.frombuffer(c.pcm, dtype="<i2") for c in chunks]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")  # an interrupted run leaves no half-written clip
    write_wav(partial, np.concatenate([pad, *speech, pad]).astype(np.int16), rate)
    partial.replace(path)


def build(
    texts: Sequence[str] = TEXTS, voices: Sequence[Voice] = VOICES, cache_dir: Path = CACHE
) -> list[Clip]:
    """`generate`, for callers that are not in an event loop."""
    return asyncio.run(generate(texts, voices, cache_dir))


# --- joining clips into a conversation ----------------------------------------------------------


def last_voiced_s(audio: Audio, frame_ms: int = 10, below_peak_db: float = 40.0) -> float:
    """Where speech really ends: the end of the last frame within `below_peak_db` of the loudest
    frame. The VAD's own speech end is what the latency JSON uses; this checks it."""
    size = audio.sample_rate * frame_ms // 1000
    usable = len(audio.samples) // size * size
    frames = audio.samples[:usable].astype(np.float64).reshape(-1, size)
    rms = np.sqrt((frames**2).mean(axis=1))
    if not len(rms) or rms.max() == 0:
        return 0.0
    loud = np.nonzero(rms >= rms.max() * 10 ** (-below_peak_db / 20))[0]
    return float((loud[-1] + 1) * size / audio.sample_rate)


@dataclass(frozen=True)
class Conversation:
    audio: Audio
    texts: list[str]
    voices: list[str]
    speech_ends_s: list[float]  # per request: its last voiced sample, from the audio's start


def conversation(clips: Sequence[Clip], pause_s: float, lead_s: float = 0.5) -> Conversation:
    """Requests one after another with `pause_s` of silence between them (and after the last),
    as one 16 kHz recording."""
    parts = [np.zeros(int(lead_s * SAMPLE_RATE), dtype=np.int16)]
    ends: list[float] = []
    at = len(parts[0])
    for clip in clips:
        ends.append(at / SAMPLE_RATE + last_voiced_s(clip.audio))
        parts += [clip.audio.samples, np.zeros(int(pause_s * SAMPLE_RATE), dtype=np.int16)]
        at += len(clip.audio.samples) + len(parts[-1])
    texts, voices = [c.text for c in clips], [c.voice for c in clips]
    return Conversation(Audio(np.concatenate(parts)), texts, voices, ends)


# --- reporting, shared by the speech benchmarks -------------------------------------------------


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """p50/p95/max of a sample, rounded for the JSON."""
    return {
        "p50": round(statistics.median(values), digits),
        "p95": round(percentile(list(values), 0.95), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def machine_info(quick: bool) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # --quick numbers are a smoke test of the benchmark, not figures to publish.
        "quick": quick,
    }


def write_results(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {path}")


def peak_rss_mib() -> float:
    """This process's peak resident set size. VmHWM belongs to the current address space, so
    unlike ru_maxrss it does not inherit the parent's peak through fork and exec."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        import resource  # not Linux: ru_maxrss is KiB on most systems (bytes on macOS)

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return vm_hwm_mib(status) or 0.0


def vm_hwm_mib(status: str) -> float | None:
    """The VmHWM line of a /proc/PID/status text, in MiB (None once the process has exited)."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.audio_set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help=f"{len(QUICK_TEXTS)} texts only")
    parser.add_argument("--cache-dir", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    texts = QUICK_TEXTS if args.quick else TEXTS
    clips = build(texts, VOICES, args.cache_dir)
    print(f"{'voice':<18} {'clips':>5} {'seconds':>8} {'mean s':>7}")
    for voice in VOICES:
        durations = [c.audio.duration for c in clips if c.voice == voice.label]
        print(
            f"{voice.label:<18} {len(durations):>5} {sum(durations):>8.1f} "
            f"{statistics.fmean(durations):>7.2f}"
        )
    print(f"\n{len(clips)} clips in {args.cache_dir}")


if __name__ == "__main__":
    main()
