"""`assistant transcribe` (speech recognition of files) and `assistant say` (speech synthesis):
one stage each, straight from the model catalog, without the rest of the pipeline."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

from assistant.audio.devices import NoAudioDevice, Speaker, check_output_device
from assistant.audio.wav import Audio, AudioFileError, read_wav, write_wav
from assistant.commands.common import pipeline_model, run_stage, single_stage
from assistant.core.errors import ConfigError
from assistant.messages import Reply, SpeechChunk, Transcript, UtteranceAudio


def cmd_transcribe(args: argparse.Namespace) -> int:
    model = args.model or pipeline_model("asr")
    return asyncio.run(_transcribe(args.files, model, args.models, as_json=args.json))


async def _transcribe(files: list[Path], model: str, models: Path, *, as_json: bool) -> int:
    failed = 0
    async with single_stage(models, "asr", model) as stage:
        for path in files:
            try:
                audio = read_wav(path)
            except AudioFileError as exc:
                failed += 1
                print(f"assistant: {exc}", file=sys.stderr)
                continue
            started = time.perf_counter()
            (transcript,) = [
                m for m in await run_stage(stage, _utterance(audio)) if isinstance(m, Transcript)
            ]
            seconds = time.perf_counter() - started
            if as_json:
                data = {
                    "file": str(path),
                    "text": transcript.text,
                    "language": transcript.language,
                    "confidence": round(transcript.confidence, 3),
                    "duration_s": round(audio.duration, 3),
                    "seconds": round(seconds, 3),
                    "model": model,
                }
                print(json.dumps(data, ensure_ascii=False))
            elif len(files) > 1:
                print(f"{path}: {transcript.text}")
            else:
                print(transcript.text)
            sys.stdout.flush()
    return 1 if failed else 0


def _utterance(audio: Audio) -> UtteranceAudio:
    return UtteranceAudio(
        session_id="transcribe",
        turn_id=1,
        pcm=audio.samples.astype("<i2").tobytes(),
        sample_rate=audio.sample_rate,
        end_s=audio.duration,
        speech_end_s=audio.duration,
    )


def cmd_say(args: argparse.Namespace) -> int:
    if not args.text.strip():
        raise ConfigError("say: the text is empty; e.g. assistant say 'hello there' -o hello.wav")
    if args.output is None:
        check_output_device()  # before loading a voice for nothing
    voice = args.voice or pipeline_model("tts")
    return asyncio.run(_say(args.text, voice, args.models, args.output))


async def _say(text: str, voice: str, models: Path, output: Path | None) -> int:
    async with single_stage(models, "tts", voice) as stage:
        reply = Reply(session_id="say", turn_id=1, text=text)
        if output is not None:
            chunks = [m for m in await run_stage(stage, reply) if isinstance(m, SpeechChunk)]
            rate = chunks[0].sample_rate
            pcm = np.concatenate([np.frombuffer(c.pcm, dtype="<i2") for c in chunks])
            write_wav(output, pcm.astype(np.int16), rate)
            print(f"{output}: {len(pcm) / rate:.1f} s of speech at {rate} Hz", file=sys.stderr)
            return 0
        # Played sentence by sentence: the first is heard while the next is synthesized.
        with Speaker() as speaker:
            async for message in stage.process(reply):
                if isinstance(message, SpeechChunk) and message.pcm:
                    speaker.play(message.pcm, message.sample_rate)
            await speaker.drain()
    return 0


__all__ = ["NoAudioDevice", "cmd_say", "cmd_transcribe"]
