"""`assistant voice`: a spoken conversation through the microphone and speaker, or over files
(`--input in.wav --output out.wav`) on machines without a sound card."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator

from assistant.audio.devices import (
    Microphone,
    NoAudioDevice,
    Speaker,
    check_input_device,
    check_output_device,
)
from assistant.audio.wav import read_wav, write_wav
from assistant.commands.common import build_plan, knowledge_paths
from assistant.core.errors import ConfigError
from assistant.core.memory import release_free_memory
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.core.stage import StageContext
from assistant.messages import AudioFrame
from assistant.session import TurnRecord
from assistant.voice import Playback, Timeline, VoiceConversation, VoiceResult, file_blocks

log = logging.getLogger(__name__)


def cmd_voice(args: argparse.Namespace) -> int:
    plan = build_plan(args)
    if plan.input_type is not AudioFrame:
        raise ConfigError(
            f"{plan.path}: input: the {plan.name!r} pipeline takes text; voice needs a pipeline "
            "with 'input: audio' (e.g. --pipeline voice)"
        )
    # Devices and files are checked before any model loads: a mistake costs no waiting.
    if args.input is None:
        microphone = check_input_device()
        print(f"Microphone: {microphone}", file=sys.stderr)
    else:
        read_wav(args.input)  # an unreadable file fails here with a clear AudioFileError
    speaker = None
    if args.output is None:
        try:
            speaker = Speaker()
            print(f"Speaker: {check_output_device()}", file=sys.stderr)
        except NoAudioDevice as exc:
            speaker = None
            print(f"assistant: {exc}; the replies are printed only", file=sys.stderr)
    return asyncio.run(_voice(args, plan, speaker))


async def _voice(args: argparse.Namespace, plan: PipelinePlan, speaker: Speaker | None) -> int:
    live = args.input is None
    realtime = live or args.realtime
    playback: Playback | None = speaker
    timeline = Timeline() if args.output is not None and realtime else None
    playback = timeline or playback
    context = StageContext(
        skill_dirs=plan.skill_dirs,
        knowledge_paths=await asyncio.to_thread(knowledge_paths, args.knowledge),
    )
    if live:
        print("Loading models...", file=sys.stderr)
    async with Pipeline(plan, context=context) as pipeline:
        release_free_memory()  # what loading the models left free (see assistant.core.memory)
        conversation = VoiceConversation(
            pipeline,
            playback=playback,
            session_id=args.session,
            barge_in=not args.no_barge_in,
            on_turn=lambda record: _print_turn(record, as_json=args.json),
            user=args.user,
            interactive=live,  # a recording cannot answer the consent question
        )
        if live:
            print("Listening; speak to the assistant (Ctrl-C to stop).", file=sys.stderr)
            result = await conversation.run(_microphone(), realtime=True)
        else:
            blocks = file_blocks(read_wav(args.input), realtime=realtime)
            result = await conversation.run(blocks, realtime=realtime)
    if speaker is not None:
        speaker.close()
    if not result.records:
        print("assistant: no speech was heard", file=sys.stderr)
    if args.output is not None:
        _write_output(args.output, result, timeline)
    return 0


async def _microphone() -> AsyncIterator[bytes]:
    async with Microphone() as microphone:
        async for block in microphone:
            yield block


def _write_output(path: object, result: VoiceResult, timeline: Timeline | None) -> None:
    speech = timeline.audio() if timeline is not None else result.speech()
    if speech is None:
        print(f"assistant: nothing was said, so {path} was not written", file=sys.stderr)
        return
    write_wav(str(path), speech.samples, speech.sample_rate)
    print(f"{path}: {speech.duration:.1f} s of replies", file=sys.stderr)


def _print_turn(record: TurnRecord, *, as_json: bool) -> None:
    for error in record.errors:
        print(
            f"assistant: stage {error.stage} failed ({error.error_type}: {error.detail}); "
            "the session goes on",
            file=sys.stderr,
        )
    if as_json:
        print(json.dumps(record.to_json(), ensure_ascii=False))
    else:
        heard = record.transcript.text if record.transcript else ""
        said = " ".join(filter(None, (record.text, "(interrupted)" * record.interrupted)))
        print(f"you> {heard}\nassistant> {said}")
    sys.stdout.flush()
