"""Voice-to-voice latency of the default voice pipeline, and the memory `assistant voice` needs.

Run from the project root:  python -m benchmarks.voice_latency [--quick] [--turns N]
                                                               [--pause S] [--set KIND=MODEL]

Latency: pipelines/voice.yaml (dst in memory) runs in process, models loaded once. Spoken
requests from `benchmarks.audio_set` (Piper joe at three speeds), a few per conversation with
`--pause` seconds of silence after each, are fed in real time, exactly as a microphone delivers
them (`file_blocks(realtime=True)`, replies laid on a `Timeline`). Per turn, from the turn JSON:
voice-to-voice = the user's last speech sample (where the VAD saw speech end) to the first
sample of the reply, split into the end-of-turn wait (the VAD must hear `min_silence_ms` of
silence, then with `smart-turn` Smart Turn's verdict, before it lets the utterance go) and
endpoint -> first audio (asr, nlu, dst, respond, then tts of the first sentence). With
`smart-turn`, ASR may already have begun on the draft sent at the pause (speculative ASR: a hit
when the final audio is that draft; reported per turn and in the summary). The same
latency is also measured from the last voiced sample of the request as generated, which checks
the VAD's idea of where speech ended. One untimed warm-up turn comes first. `file_blocks` hands
over each 32 ms block at the time its first sample was spoken, where a microphone delivers it
once its last sample is recorded, so these figures are up to one block (32 ms) optimistic; the
end-of-speech wait comes out a little under `min_silence_ms` for that reason.

Memory: before anything loads here, `assistant voice --input CONVERSATION.wav --output OUT.wav`
runs as a child process (the console script next to this interpreter) on the first recording
(three requests the skills answer), then on the first with small talk (the language model loads
only for that); the peak resident memory and wall time of each are reported. The peak is read
from the child's /proc/PID/status (VmHWM) while it runs: `getrusage(RUSAGE_CHILDREN).ru_maxrss`,
also reported, is at least the parent's own peak at the time of the spawn, because Linux
carries ru_maxrss across fork and exec.

Peer: after ours, the same recordings go through a Pipecat 1.14 pipeline of its own local pieces
(Silero VAD with Smart Turn v3, its Whisper STT service, Piper), with our text pipeline where its
LLM would be (`benchmarks.pipecat_voice`; `--no-peer` skips it). Both are reported side by side
from the same instant, the request's last voiced sample (`benchmarks.voice_peer`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.audio.wav import write_wav
from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.core.config import parse_overrides
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.messages import UtteranceAudio, UtteranceDraft
from assistant.pipeline import plan_pipeline
from assistant.session import TurnRecord
from assistant.voice import Timeline, VoiceConversation, file_blocks
from benchmarks.audio_set import (
    PIPER_VOICES,
    Clip,
    Conversation,
    conversation,
    generate,
    machine_info,
    peak_rss_mib,
    summary,
    vm_hwm_mib,
    write_results,
)
from benchmarks.voice_peer import report_peer, run_peer

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "benchmarks" / "results" / "voice_latency.json"
ASSISTANT = Path(sys.executable).parent / ("assistant.exe" if os.name == "nt" else "assistant")
TIMEOUT_S = 900.0
POLL_S = 0.05
# Requests whose replies are short (a long reply would still be playing when the next request
# comes), covering templates, custom actions and a Gemma small-talk reply.
REQUESTS: tuple[str, ...] = (
    "What time is it?",
    "Set a timer for ten minutes.",
    "What is 17 times 23?",
    "Add oat milk and eggs to my shopping list.",
    "What's on my shopping list?",
    "How many centimeters are in 3 inches?",
    "Tell me a joke.",
    "How much time is left on my timer?",
    "Hello, how are you doing today?",
    "Convert 5 kilometers to miles.",
    "Remove bread from the list.",
    "What's the date today?",
    "Cancel the timer.",
    "What's two hundred and fifty plus 75?",
    "Thank you, that's all for now.",
)
PER_CONVERSATION = 3
SMALL_TALK = "Hello, how are you doing today?"  # answered by the language model
WARMUP = "What time is it?"


# --- the conversations ---------------------------------------------------------------------------


async def conversations(turns: int, pause_s: float) -> tuple[Conversation, list[Conversation]]:
    """A warm-up request, and `turns` requests in conversations of PER_CONVERSATION, each
    request in the next Piper voice."""
    texts = [REQUESTS[i % len(REQUESTS)] for i in range(turns)]
    clips = await generate(sorted({*texts, WARMUP}), PIPER_VOICES)
    by_key = {(c.text, c.voice): c for c in clips}
    chosen: list[Clip] = [
        by_key[(text, PIPER_VOICES[i % len(PIPER_VOICES)].label)] for i, text in enumerate(texts)
    ]
    warmup = conversation([by_key[(WARMUP, PIPER_VOICES[1].label)]], pause_s)
    groups = [chosen[i : i + PER_CONVERSATION] for i in range(0, len(chosen), PER_CONVERSATION)]
    return warmup, [conversation(group, pause_s) for group in groups]


def voice_plan(overrides: dict[str, str]) -> PipelinePlan:
    path = resolve_pipeline_path("voice")
    catalog = load_models(DEFAULT_MODELS)
    return plan_pipeline(load_pipeline(path), path, catalog, DEFAULT_MODELS, overrides)


# --- latency, in process -------------------------------------------------------------------------


async def converse(pipeline: Pipeline, talk: Conversation) -> list[dict[str, Any]]:
    """One real-time conversation; one row per turn."""
    session = VoiceConversation(pipeline, playback=Timeline())
    result = await session.run(file_blocks(talk.audio, realtime=True), realtime=True)
    rows = [turn_row(record, talk) for record in result.records]
    for row, record, later in zip(rows, result.records, result.records[1:], strict=False):
        row["withdrawn"] = withdrawn(record, later)
    return rows


def withdrawn(record: TurnRecord, later: TurnRecord) -> bool:
    """Whether the next turn's utterance carries this one's in front: the speaker went on right
    after Smart Turn's "complete", the VAD withdrew this turn and its reply was never played."""
    mine, next_ = record.latest(UtteranceAudio), later.latest(UtteranceAudio)
    return mine is not None and next_ is not None and next_.pcm.startswith(mine.pcm)


def turn_row(record: TurnRecord, talk: Conversation) -> dict[str, Any]:
    audio = record.to_json()["audio"] or {}
    v2v, first, vad_end = (
        audio.get(k) for k in ("voice_to_voice_ms", "first_audio_ms", "speech_end_s")
    )
    index: int | None = None
    offset_ms: float | None = None  # the VAD's speech end minus the request's last voiced sample
    if vad_end is not None:
        # The request this turn heard: the one whose generated speech ends nearest the VAD's end.
        index = min(range(len(talk.texts)), key=lambda i: abs(talk.speech_ends_s[i] - vad_end))
        offset_ms = round((vad_end - talk.speech_ends_s[index]) * 1000, 1)
    # What the VAD adds: the end-of-speech silence it waits for, plus frame granularity.
    end_of_speech = round(v2v - first, 1) if v2v is not None and first is not None else None
    from_true_end = round(v2v + offset_ms, 1) if v2v is not None and offset_ms is not None else None
    parse = record.parse
    # Where the transcript left the ASR: the peer's split point (benchmarks.voice_peer).
    heard_at = record.transcript.timestamp if record.transcript else None
    first_at = record.first_audio
    return {
        "withdrawn": False,
        **speculation_of(record),
        "turn": record.turn_id,
        "request": talk.texts[index] if index is not None else None,
        "voice": talk.voices[index] if index is not None else None,
        "heard": record.transcript.text if record.transcript else None,
        "intent": parse.intent.name if parse else None,
        "reply": record.text,
        "interrupted": record.interrupted,
        "errors": [e.stage for e in record.errors],
        "voice_to_voice_ms": v2v,
        "first_audio_ms": first,
        "end_of_speech_ms": end_of_speech,
        "from_true_end_ms": from_true_end,
        "vad_end_offset_ms": offset_ms,
        "transcript_to_first_audio_ms": (
            round((first_at - heard_at) * 1000, 1) if first_at and heard_at else None
        ),
        "timings_ms": record.timings_ms(),
    }


def speculation_of(record: TurnRecord) -> dict[str, Any]:
    """Speculative ASR in this turn: the drafts the VAD sent at judged pauses, and whether the
    last was the final audio (a hit: the asr stage reused its transcription)."""
    final = record.latest(UtteranceAudio)
    drafts = [d.pcm for d in record.of(UtteranceDraft)]
    hit = final is not None and final.pcm in drafts
    return {"drafts": len(drafts), "speculative_hit": hit if drafts else None}


async def measure_latency(
    plan: PipelinePlan, warmup: Conversation, talks: list[Conversation]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with Pipeline(plan) as pipeline:
        warm = await converse(pipeline, warmup)  # first-call costs of every model
        rows: list[dict[str, Any]] = []
        for index, talk in enumerate(talks):
            turns = await converse(pipeline, talk)
            rows += [{"conversation": index, **row} for row in turns]
            print(f"  conversation {index + 1}/{len(talks)}: {len(turns)} turns", file=sys.stderr)
    return warm, rows


def latency_summary(all_rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [row for row in all_rows if not row["withdrawn"]]  # their replies never played

    def of(key: str) -> dict[str, float] | None:
        values = [row[key] for row in rows if row[key] is not None]
        return summary(values, digits=1) if values else None

    stages: dict[str, list[float]] = {}
    for row in rows:
        for stage, ms in row["timings_ms"].items():
            stages.setdefault(stage, []).append(ms)
    drafted = [row for row in rows if row["drafts"]]
    return {
        "turns": len(rows),
        "withdrawn": len(all_rows) - len(rows),
        # Speculative ASR: a turn is a hit when its final audio was one of its drafts.
        "speculative_asr": {
            "turns_with_drafts": len(drafted),
            "hits": sum(bool(row["speculative_hit"]) for row in drafted),
            "drafts_dropped": sum(row["drafts"] - bool(row["speculative_hit"]) for row in drafted),
        },
        # Cut by the next request (barge-in): the pause was shorter than latency + reply.
        "interrupted": sum(row["interrupted"] for row in rows),
        "voice_to_voice_ms": of("voice_to_voice_ms"),
        "end_of_speech_ms": of("end_of_speech_ms"),
        "first_audio_ms": of("first_audio_ms"),
        "from_true_end_ms": of("from_true_end_ms"),
        "vad_end_offset_ms": of("vad_end_offset_ms"),
        "stages_ms": {stage: summary(v, digits=1) for stage, v in stages.items()},
    }


# --- memory of `assistant voice`, as a child process --------------------------------------------


def measure_command(talk: Conversation, overrides: list[str]) -> dict[str, Any]:
    """Peak RSS and wall time of `assistant voice --input WAV --output WAV` on one recording."""
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as folder:
        source, output = Path(folder) / "in.wav", Path(folder) / "out.wav"
        write_wav(source, talk.audio.samples, talk.audio.sample_rate)
        argv = [str(ASSISTANT), "voice", "--input", str(source), "--output", str(output)]
        argv += ["--json", *(arg for item in overrides for arg in ("--set", item))]
        parent_peak = peak_rss_mib()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.perf_counter()
            process = subprocess.Popen(
                argv, cwd=PROJECT, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
            peak = poll_peak(process)
            wall_s = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {process.returncode}\n{stderr[-2000:]}")
        turns = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        return {
            "argv": ["assistant", *argv[1:3], "IN.wav", argv[4], "OUT.wav", *argv[6:]],
            "input_s": round(talk.audio.duration, 1),
            "requests": len(talk.texts),
            "turns": len(turns),
            "replies": [t["text"] for t in turns],
            "wall_s": round(wall_s, 2),
            "peak_rss_mib": round(peak, 1) if peak is not None else None,
            # Valid only if above the parent's peak at spawn time (see the module docstring).
            "ru_maxrss_children_mib": (
                round(children_after / 1024, 1) if children_after > children_before else None
            ),
            "parent_peak_rss_mib_at_spawn": round(parent_peak, 1),
        }


def poll_peak(process: subprocess.Popen[bytes]) -> float | None:
    """Wait for the process, reading its VmHWM (a high-water mark: the last reading is the
    peak, short of growth in the last POLL_S before exit)."""
    status = Path(f"/proc/{process.pid}/status")
    peak: float | None = None
    deadline = time.monotonic() + TIMEOUT_S
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"assistant voice took longer than {TIMEOUT_S:.0f} s")
        try:
            hwm = vm_hwm_mib(status.read_text())
        except OSError:  # exited between poll() and the read, or not Linux
            hwm = None
        if hwm is not None:
            peak = hwm if peak is None else max(peak, hwm)
        time.sleep(POLL_S)
    return peak


# --- report --------------------------------------------------------------------------------------


def print_report(
    latency: dict[str, Any], command: dict[str, Any] | None, min_silence_ms: int
) -> None:
    labels = {
        "voice_to_voice_ms": "voice to voice (VAD speech end -> first reply sample)",
        "end_of_speech_ms": f"  end-of-turn wait (VAD pause {min_silence_ms} ms + turn decision)",
        "first_audio_ms": "  endpoint -> first reply sample",
        "from_true_end_ms": "voice to voice from the request's last voiced sample",
    }
    print("\n| | p50 ms | p95 ms | max ms | turns |")
    print("|---|---|---|---|---|")
    rows = [(label, latency[key]) for key, label in labels.items()]
    rows += [(f"  stage {name}", s) for name, s in latency["stages_ms"].items()]
    for label, s in rows:
        if s is not None:
            print(f"| {label} | {s['p50']:.0f} | {s['p95']:.0f} | {s['max']:.0f} | {s['n']} |")
    spec = latency["speculative_asr"]
    if spec["turns_with_drafts"]:
        print(
            f"speculative ASR: {spec['hits']} of {spec['turns_with_drafts']} turns reused their "
            f"draft's transcript; {spec['drafts_dropped']} drafts dropped (the speaker went on)"
        )
    if latency["withdrawn"]:
        print(
            f"{latency['withdrawn']} turns withdrawn (cut mid-request, joined to the next turn; "
            "not in the figures above)"
        )
    if latency["interrupted"]:
        print(
            f"({latency['interrupted']} of {latency['turns']} replies were cut by the next request)"
        )
    print_command(command, "")


def print_command(command: dict[str, Any] | None, note: str) -> None:
    if command is None:
        return
    print(
        f"\n`assistant voice --input` ({command['input_s']} s, {command['requests']} requests -> "
        f"{command['turns']} turns{'; ' + note if note else ''}): peak RSS "
        f"{command['peak_rss_mib']} MiB, wall {command['wall_s']} s"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.voice_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="4 turns: a smoke test")
    parser.add_argument("--turns", type=int, default=len(REQUESTS))
    parser.add_argument(
        "--pause", type=float, default=3.0, help="seconds of silence after each request"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KIND=MODEL")
    parser.add_argument("--skip-memory", action="store_true", help="latency only")
    parser.add_argument("--no-peer", action="store_true", help="without the Pipecat pipeline")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    turns = 4 if args.quick else args.turns
    if turns < 1 or args.pause < 0:
        parser.error("--turns must be at least 1 and --pause not negative")
    if not ASSISTANT.exists():
        parser.error(f"no `assistant` script at {ASSISTANT}; install the project in this venv")
    overrides = ["dst=tracker-memory", *args.set]  # sessions are not kept on disk
    plan = voice_plan(parse_overrides(overrides))  # configuration errors before any waiting

    warmup, talks = asyncio.run(conversations(turns, args.pause))
    # First, while this process is small and nothing else here competes for the CPU.
    command = None if args.skip_memory else measure_command(talks[0], overrides)
    chatty = next((t for t in talks if SMALL_TALK in t.texts), None)
    small_talk = (
        None if args.skip_memory or chatty is None else measure_command(chatty, overrides)
    )
    warm, rows = asyncio.run(measure_latency(plan, warmup, talks))
    latency = latency_summary(rows)
    vad = next(s for s in plan.stages if s.kind == "vad")
    min_silence_ms = int(getattr(vad.params, "min_silence_ms", 0))
    print_report(latency, command, min_silence_ms)
    print_command(small_talk, "with small talk: the language model loads")
    peer = None if args.no_peer else run_peer(warmup, talks, parse_overrides(overrides))
    if peer is not None:
        peer["compared"] = report_peer(rows, peer)
    result: dict[str, Any] = {
        "benchmark": "voice-to-voice latency",
        "pipeline": {s.kind: s.model for s in plan.stages},
        "settings": {
            "turns": turns,
            "per_conversation": PER_CONVERSATION,
            "pause_s": args.pause,
            "voices": [v.label for v in PIPER_VOICES],
            "vad_min_silence_ms": min_silence_ms,
        },
        "note": "voice_to_voice = the VAD's speech end to the reply's first SpeechChunk, input in "
        "real time; it includes the VAD's end-of-speech silence (end_of_speech_ms); "
        "from_true_end = the same from the last voiced sample of the generated request; "
        "stages_ms: tts is the whole reply, total = transcript to the last stage done",
        "machine": machine_info(args.quick),
        "latency": latency,
        "warmup_turns": warm,
        "turns": rows,
        "assistant_voice_command": command,
        "assistant_voice_command_small_talk": small_talk,
        "peer": peer,  # Pipecat 1.14 on the same recordings, or why not (benchmarks.voice_peer)
    }
    write_results(args.output, result)
    return result


if __name__ == "__main__":
    main()
