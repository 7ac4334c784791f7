"""Real-time spoken conversations at once over `assistant serve`'s WebSocket: voice to voice,
one conversation alone beside five at once in the same run, and memory per extra conversation.

Run from the project root:  python -m benchmarks.serve_ws [--quick] [--conversations 5]

The server is `assistant serve --port 0 --set dst=tracker-memory` (the console script next to
this interpreter), a child process stopped with SIGTERM at the end; `/ws` runs its voice
pipeline (pipelines/voice.yaml). The requests are those of `benchmarks.voice_latency`
(REQUESTS), spoken by the Piper voices of `benchmarks.audio_set` (cached WAVs), each request in
the next voice. Each conversation is a client like the browser's (`benchmarks.ws_talk`): ~1 s of
silence, then each request in 32 ms blocks at real-time pace followed by ~3 s of silence.

Scenarios, one after the other on the same server, after one untimed warm-up conversation:
1. one conversation alone, 6 requests;
2. `--conversations` (5) at once, started 0.5 s apart, 3 to 6 requests each.

Voice to voice, per request, as the client sees it: from the time the block holding the
request's last voiced sample was sent (found in the generated clip, as voice_latency does) to
the first binary (audio) frame after it. Beside it the server's own figure (the turn record's
`audio.voice_to_voice_ms`, from the VAD's speech end to the reply's first audio). A request is
matched to the server's turn whose `speech_end_s` (the VAD's, in stream time) is nearest its own.
Also counted: requests heard wrong (the final transcript differs from the request after
`benchmarks.asr`'s normalisation: numbers, case, punctuation), turns withdrawn (the speaker went
on; joined to the next turn), replies interrupted (cut by the next request), requests with no
reply audio between their last voiced sample and the next request's (answered too early: the
VAD ended the turn at a pause mid-request and the reply came while the user spoke on; or never).

The warm-up has a small-talk request too, so that the language model (loaded on first use) is
in memory before anything is measured.

Memory: the server's VmRSS (/proc/PID/status) with no connection open (after the warm-up), with
the one conversation open and idle after its turns, and with all of the concurrent ones open and
idle; the peak (VmHWM, reset through /proc/PID/clear_refs before the run) during the concurrent
run, and after the N have closed. Per extra conversation: (RSS with N open - RSS with 1 open) /
(N - 1).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import aiohttp

from benchmarks.asr import word_errors
from benchmarks.audio_set import (
    PIPER_VOICES,
    Clip,
    generate,
    machine_info,
    summary,
    write_results,
)
from benchmarks.voice_latency import ASSISTANT, PROJECT, REQUESTS, SMALL_TALK, WARMUP
from benchmarks.ws_talk import BLOCK, LEAD_S, PAUSE_S, Script, Talk, hold, script

RESULTS = PROJECT / "benchmarks" / "results" / "serve_ws.json"
SERVER_ARGS = ["serve", "--port", "0", "--set", "dst=tracker-memory"]
START_TIMEOUT_S = 300.0
STAGGER_S = 0.5
ALONE_REQUESTS = 6
MATCH_S = 1.5  # a turn whose VAD speech end is further than this from a request is not its


# --- the scripts ---------------------------------------------------------------------------------


async def scripts(quick: bool, concurrent: int) -> tuple[Script, Script, list[Script]]:
    """The warm-up, the conversation alone, and the concurrent ones; requests go round REQUESTS
    and each request is in the next Piper voice."""
    alone_n = 1 if quick else ALONE_REQUESTS
    sizes = [1] * concurrent if quick else [3 + i % 4 for i in range(concurrent)]
    clips = await generate(sorted({*REQUESTS, WARMUP, SMALL_TALK}), PIPER_VOICES)
    by_key = {(c.text, c.voice): c for c in clips}
    counter = iter(range(10_000))

    def pick(n: int) -> list[Clip]:
        chosen = []
        for _ in range(n):
            i = next(counter)
            text, voice = REQUESTS[i % len(REQUESTS)], PIPER_VOICES[i % len(PIPER_VOICES)]
            chosen.append(by_key[(text, voice.label)])
        return chosen

    # Small talk too: the language model loads on its first use, which would land in a scenario.
    warm = [WARMUP] if quick else [WARMUP, SMALL_TALK]
    warmup = script([by_key[(text, PIPER_VOICES[1].label)] for text in warm])
    alone = script(pick(alone_n))
    return warmup, alone, [script(pick(n)) for n in sizes]


# --- the server ----------------------------------------------------------------------------------


def start_server(log: IO[bytes]) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [str(ASSISTANT), *SERVER_ARGS],
        cwd=PROJECT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()  # printed once the models are loaded
    found = re.search(r"http://\S+", line)
    if found is None:
        server.wait(timeout=START_TIMEOUT_S)
        log.seek(0)
        tail = log.read().decode(errors="replace")[-2000:]
        raise SystemExit(f"assistant serve did not start (exit {server.returncode}):\n{tail}")
    return server, found.group(0).rstrip("/")


def stop_server(server: subprocess.Popen[str]) -> int:
    server.send_signal(signal.SIGTERM)
    return server.wait(timeout=120)


def status_mb(pid: int, key: str) -> float | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux: writing 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- running the scenarios -----------------------------------------------------------------------


async def scenario(
    url: str, label: str, plays: Sequence[Script], pid: int, stagger_s: float = STAGGER_S
) -> tuple[list[Talk], dict[str, float | None]]:
    """Hold the conversations (the i-th starts after i * stagger_s); once all are idle with
    their turns over, read the server's memory, then close them."""
    idle = [asyncio.Event() for _ in plays]
    release = asyncio.Event()
    peak = reset_peak(pid)
    polled: list[float] = []
    async with aiohttp.ClientSession() as client:
        tasks = [
            asyncio.ensure_future(
                hold(client, url, Talk(f"{label}-{i}", play), i * stagger_s, idle[i], release)
            )
            for i, play in enumerate(plays)
        ]
        watch = asyncio.ensure_future(_poll_rss(pid, polled))
        await asyncio.gather(*(event.wait() for event in idle))
        watch.cancel()
        memory = {
            "rss_open_idle_mb": status_mb(pid, "VmRSS"),
            "peak_mb": status_mb(pid, "VmHWM") if peak else None,
            "polled_rss_max_mb": max(polled) if polled else None,
        }
        release.set()
        talks = await asyncio.gather(*tasks)
    return list(talks), memory


async def _poll_rss(pid: int, into: list[float]) -> None:
    while True:
        rss = status_mb(pid, "VmRSS")
        if rss is not None:
            into.append(rss)
        await asyncio.sleep(0.1)


async def run_all(
    url: str, pid: int, warmup: Script, alone: Script, together: list[Script]
) -> dict[str, Any]:
    await scenario(url, "warm-up", [warmup], pid)  # the models' first-call costs
    await asyncio.sleep(1.0)  # the warm-up's connection closes on the server
    rss_none = status_mb(pid, "VmRSS")
    alone_talks, alone_memory = await scenario(url, "alone", [alone], pid)
    await asyncio.sleep(1.0)
    together_talks, together_memory = await scenario(url, "together", together, pid)
    await asyncio.sleep(1.0)
    together_memory["rss_after_close_mb"] = status_mb(pid, "VmRSS")
    return {
        "alone": alone_talks,
        "together": together_talks,
        "memory": memory_summary(rss_none, alone_memory, together_memory, len(together)),
    }


def memory_summary(
    none: float | None, one: dict[str, float | None], many: dict[str, float | None], n: int
) -> dict[str, Any]:
    rss_one, rss_many = one["rss_open_idle_mb"], many["rss_open_idle_mb"]
    per_extra = (
        round((rss_many - rss_one) / (n - 1), 1)
        if rss_one is not None and rss_many is not None and n > 1
        else None
    )
    return {
        "rss_0_open_mb": none,
        "rss_1_open_mb": rss_one,
        f"rss_{n}_open_mb": rss_many,
        f"peak_during_{n}_mb": many["peak_mb"],
        f"polled_rss_max_during_{n}_mb": many["polled_rss_max_mb"],
        # Kept after they close: what the allocator holds on to rather than the conversations.
        f"rss_after_{n}_closed_mb": many["rss_after_close_mb"],
        "first_conversation_mb": (
            round(rss_one - none, 1) if rss_one is not None and none is not None else None
        ),
        "per_extra_conversation_mb": per_extra,
    }


# --- per request ---------------------------------------------------------------------------------


def rows_of(talk: Talk) -> list[dict[str, Any]]:
    """One row per request: its voice to voice (client and server) and how it was heard."""
    records, heard = talk.records(), talk.transcripts()
    withdrawn = withdrawn_turns(records)
    kept = {turn: r for turn, r in records.items() if turn not in withdrawn and r.get("audio")}
    requests = talk.script.requests
    rows = []
    for i, request in enumerate(requests):
        last_block = (request.end_sample - 1) // BLOCK
        spoke_at = talk.sent_at[last_block] if last_block < len(talk.sent_at) else None
        # The next request's end bounds the window: a later frame answers something else.
        following = requests[i + 1].end_sample - 1 if i + 1 < len(requests) else None
        until = talk.sent_at[following // BLOCK] if following is not None else float("inf")
        first = next(
            (
                (t, turn)
                for t, _, turn in talk.audio
                if spoke_at is not None and spoke_at < t < until
            ),
            None,
        )
        end_s = request.end_sample / 16000
        turn = min(kept, key=lambda k: abs(kept[k]["audio"]["speech_end_s"] - end_s), default=None)
        if turn is not None and abs(kept[turn]["audio"]["speech_end_s"] - end_s) > MATCH_S:
            turn = None
        record = kept.get(turn) if turn is not None else None
        text = heard.get(turn) if turn is not None else None
        rows.append(
            {
                "conversation": talk.name,
                "request": request.text,
                "voice": request.voice,
                "turn": turn,
                "heard": text,
                "heard_right": text is not None and word_errors(request.text, text).errors == 0,
                "reply": record["text"] if record else None,
                "interrupted": bool(record and record["interrupted"]),
                "voice_to_voice_ms": (
                    round((first[0] - spoke_at) * 1000, 1) if first and spoke_at else None
                ),
                "audio_turn": first[1] if first else None,  # the turn its first frame followed
                "server_voice_to_voice_ms": record["audio"]["voice_to_voice_ms"]
                if record
                else None,
                "timings_ms": record["timings_ms"] if record else None,
            }
        )
    return rows


def withdrawn_turns(records: dict[int, dict[str, Any]]) -> set[int]:
    """Turns the VAD withdrew (the speaker went on): no reply, or the same utterance start as a
    later turn (which carries its audio in front)."""
    starts = {t: (r.get("audio") or {}).get("start_s") for t, r in records.items()}
    return {
        turn
        for turn, record in records.items()
        if not record["text"]
        or any(later > turn and starts[later] == starts[turn] for later in records)
    }


def scenario_summary(talks: list[Talk]) -> dict[str, Any]:
    rows = [row for talk in talks for row in rows_of(talk)]
    client = [r["voice_to_voice_ms"] for r in rows if r["voice_to_voice_ms"] is not None]
    server = [r["server_voice_to_voice_ms"] for r in rows if r["server_voice_to_voice_ms"]]
    # Small talk waits for the language model (seconds on a CPU): the skills' turns apart.
    skills = [
        r["voice_to_voice_ms"]
        for r in rows
        if r["voice_to_voice_ms"] is not None and r["request"] != SMALL_TALK
    ]
    return {
        "conversations": len(talks),
        "requests": len(rows),
        "voice_to_voice_ms": summary(client, digits=1) if client else None,
        "server_voice_to_voice_ms": summary(server, digits=1) if server else None,
        "voice_to_voice_ms_without_small_talk": summary(skills, digits=1) if skills else None,
        "heard_wrong": sum(not r["heard_right"] for r in rows),
        "no_reply_audio": sum(r["voice_to_voice_ms"] is None for r in rows),
        "withdrawn": sum(len(withdrawn_turns(t.records())) for t in talks),
        # `interrupted` events: a reply still playing (by the server's clock) was cut, mostly by
        # the next request when reply + latency outlast the pause after a request.
        "interrupted": sum(t.count("interrupted") for t in talks),
        "errors": [e for t in talks for _, e in t.events if e["type"] == "error"],
        "failures": [t.failure for t in talks if t.failure],
        "rows": rows,
    }


# --- report --------------------------------------------------------------------------------------


def print_table(results: dict[str, dict[str, Any]], memory: dict[str, Any], n: int) -> None:
    print(
        "\n| scenario | requests | voice to voice p50 / p95 / max ms (n) "
        "| without small talk | server's own v2v | heard wrong | withdrawn | interrupted "
        "| no reply |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, s in results.items():
        keys = ("voice_to_voice_ms", "voice_to_voice_ms_without_small_talk")
        cells = [_cell(s[key]) for key in (*keys, "server_voice_to_voice_ms")]
        print(
            f"| {label} | {s['requests']} | {cells[0]} | {cells[1]} | {cells[2]} "
            f"| {s['heard_wrong']} "
            f"| {s['withdrawn']} | {s['interrupted']} | {s['no_reply_audio']} |"
        )
    print(
        f"\nserver RSS: {memory['rss_0_open_mb']} MB with no conversation open, "
        f"{memory['rss_1_open_mb']} MB with 1, {memory[f'rss_{n}_open_mb']} MB with {n} "
        f"(peak {memory[f'peak_during_{n}_mb']} MB during the {n}, "
        f"{memory[f'rss_after_{n}_closed_mb']} MB after they closed); "
        f"{memory['per_extra_conversation_mb']} MB per extra conversation"
    )
    for label, s in results.items():
        for problem in [*s["failures"], *(e["error"] for e in s["errors"])]:
            print(f"{label}: {problem}", file=sys.stderr)


def _cell(s: dict[str, float] | None) -> str:
    return "-" if s is None else f"{s['p50']:.0f} / {s['p95']:.0f} / {s['max']:.0f} ({s['n']})"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serve_ws",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 conversations of 1 request: a smoke test"
    )
    parser.add_argument("--conversations", type=int, default=5, help="at once (default 5)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    n = 2 if args.quick else args.conversations
    if n < 2:
        parser.error("--conversations must be at least 2")
    if not ASSISTANT.exists():
        parser.error(f"no `assistant` script at {ASSISTANT}; install the project in this venv")
    warmup, alone, together = asyncio.run(scripts(args.quick, n))
    with tempfile.TemporaryFile() as log:
        server, url = start_server(log)
        try:
            started = time.perf_counter()
            ran = asyncio.run(run_all(url, server.pid, warmup, alone, together))
            wall_s = time.perf_counter() - started
        finally:
            code = stop_server(server)
    results = {
        "1 conversation alone": scenario_summary(ran["alone"]),
        f"{n} conversations at once": scenario_summary(ran["together"]),
    }
    print_table(results, ran["memory"], n)
    result: dict[str, Any] = {
        "benchmark": "real-time voice conversations over the WebSocket of assistant serve",
        "server": ["assistant", *SERVER_ARGS],
        "settings": {
            "conversations_at_once": n,
            "stagger_s": STAGGER_S,
            "lead_s": LEAD_S,
            "pause_s": PAUSE_S,
            "block_samples": BLOCK,
            "voices": [v.label for v in PIPER_VOICES],
        },
        "note": "voice_to_voice = the client's send time of the block holding the request's last "
        "voiced sample to the first binary frame after it; server_voice_to_voice = the turn "
        "record's audio.voice_to_voice_ms (the VAD's speech end to the reply's first audio)",
        "machine": machine_info(args.quick),
        "wall_s": round(wall_s, 1),
        "server_exit": code,
        "memory": ran["memory"],
        "results": results,
    }
    write_results(args.output, result)
    return result


if __name__ == "__main__":
    main()
