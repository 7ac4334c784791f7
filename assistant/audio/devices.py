"""The microphone and the speaker, through PortAudio (the `sounddevice` package).

Both run PortAudio's callback in its own audio thread and keep it short: the microphone's
callback only copies a block and hands it to the asyncio loop (`call_soon_threadsafe`), the
speaker's only copies the next block out of a `PlaybackQueue`. Neither ever raises there: an
exception in a PortAudio callback silently stops the stream.

Everything that can go wrong with a device — `sounddevice` or the PortAudio library missing, no
device, a stream that cannot be opened or that stops (unplugged) — is a `NoAudioDevice` whose
message is one line saying what is missing and that a WAV file can stand in for it, so a machine
without a sound card (a server, CI, a container) gets an answer instead of a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from math import ceil, gcd
from types import ModuleType, TracebackType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from assistant.audio.wav import SAMPLE_RATE, resample

log = logging.getLogger(__name__)

Kind = Literal["input", "output"]
Device = int | str | None
"""A PortAudio device index, a substring of its name, or None for the system default."""

BLOCK_SAMPLES = 512
"""Microphone block: one Silero VAD window at 16 kHz (`assistant.stages.vad.silero.CHUNK`,
32 ms), so every block is exactly one model call and none waits for the next."""

SPEAKER_BLOCK_MS = 20
"""Speaker block: `Speaker.stop()` silences the reply within about this long."""

HINTS: dict[Kind, str] = {"input": "use --input FILE.wav", "output": "use --output FILE.wav"}
"""What to do instead, the end of every `NoAudioDevice` message."""

_NOUNS: dict[Kind, str] = {"input": "microphone", "output": "speaker"}
_BYTES_PER_SAMPLE = 2  # 16-bit mono PCM in and out
_MAX_QUEUED_S = 10.0  # microphone audio kept for a stalled consumer before blocks are dropped


class NoAudioDevice(RuntimeError):
    """No usable microphone or speaker; the message is one line and says what to do."""

    def __init__(self, kind: Kind, reason: str) -> None:
        self.kind: Kind = kind
        self.reason = _one_line(reason)
        super().__init__(f"no usable {_NOUNS[kind]} ({self.reason}); {HINTS[kind]}")


def _one_line(text: object) -> str:
    """PortAudio and dlopen messages may span lines; the user gets one."""
    return " ".join(str(text).split())


# --- finding devices -----------------------------------------------------------------------------


def check_input_device(device: Device = None) -> str:
    """Describe the microphone that `Microphone(device)` would open, or raise NoAudioDevice."""
    return _describe(_device_info(_sounddevice("input"), "input", device))


def check_output_device(device: Device = None) -> str:
    """Describe the speaker that `Speaker(device)` would open, or raise NoAudioDevice."""
    return _describe(_device_info(_sounddevice("output"), "output", device))


def _sounddevice(kind: Kind) -> ModuleType:
    """Import sounddevice only when a device is wanted: importing it loads PortAudio and
    initialises it, which fails on machines without the library."""
    try:
        import sounddevice
    except ImportError as exc:
        raise NoAudioDevice(kind, f"{exc}: pip install sounddevice") from exc
    except OSError as exc:  # sounddevice raises it when libportaudio cannot be found or loaded
        raise NoAudioDevice(kind, f"{exc}: install the libportaudio2 package") from exc
    except Exception as exc:  # PortAudioError from Pa_Initialize, raised during the import
        raise NoAudioDevice(kind, f"PortAudio failed to start: {exc}") from exc
    return sounddevice


def _device_info(sd: ModuleType, kind: Kind, device: Device) -> dict[str, Any]:
    """PortAudio's description of the device (the default one for None)."""
    try:
        # No default device shows up as index -1, which PortAudioError reports as a query error;
        # a named device without channels of this kind is a ValueError.
        info = sd.query_devices(device, kind=kind)
    except (sd.PortAudioError, ValueError) as exc:
        raise NoAudioDevice(kind, f"PortAudio reports no {kind} device: {exc}") from exc
    if not info or int(info.get(f"max_{kind}_channels", 0)) < 1:
        raise NoAudioDevice(kind, f"PortAudio reports no {kind} device")
    return dict(info)


def _describe(info: dict[str, Any]) -> str:
    return f"{info['name']} (device {info['index']}, {int(info['default_samplerate'])} Hz)"


def _open_stream(sd: ModuleType, kind: Kind, stream_class: Any, **settings: Any) -> Any:
    """Create and start a PortAudio stream (mono int16, low latency)."""
    try:
        stream = stream_class(channels=1, dtype="int16", latency="low", **settings)
    except (sd.PortAudioError, ValueError) as exc:
        raise NoAudioDevice(kind, f"cannot open the {kind} stream: {exc}") from exc
    try:
        stream.start()
    except sd.PortAudioError as exc:
        stream.close()
        raise NoAudioDevice(kind, f"cannot start the {kind} stream: {exc}") from exc
    return stream


# --- PCM helpers ---------------------------------------------------------------------------------


def _samples(pcm: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32)


def _pcm(samples: npt.NDArray[np.floating]) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


class StreamResampler:
    """Resamples a stream block by block with the same result as `resample` over the whole
    stream (cutting it into independently resampled blocks would put a click at every edge).

    Each output sample needs `margin` input samples on both sides for the filter; an output is
    emitted once they have arrived, and the input it may still need is kept. That delays the
    stream by `margin` input samples (under 1 ms at 48 kHz)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        divisor = gcd(from_rate, to_rate)
        self.from_rate, self.to_rate = from_rate, to_rate
        self._up, self._down = to_rate // divisor, from_rate // divisor
        # resample_poly's filter reaches 10 * max(up, down) samples at the upsampled rate.
        self.margin = ceil(10 * max(self._up, self._down) / self._up) + 1
        self._kept = np.zeros(0, dtype=np.float32)
        self._kept_start = 0  # stream index of _kept[0]; a multiple of _down
        self._received = 0
        self._emitted = 0
        # Import scipy (seconds on a busy machine) now, not while audio is arriving.
        resample(np.zeros(1, dtype=np.float32), from_rate, to_rate)

    def push(self, pcm: bytes) -> bytes:
        """Take 16-bit PCM at `from_rate`, return what is now final at `to_rate`."""
        self._kept = np.concatenate([self._kept, _samples(pcm)])
        self._received += len(pcm) // _BYTES_PER_SAMPLE
        up, down = self._up, self._down
        end = ((self._received - 1 - self.margin) * up) // down + 1  # outputs now final
        if end <= self._emitted:
            return b""
        start = self._segment_start()
        resampled = resample(self._kept[start - self._kept_start :], self.from_rate, self.to_rate)
        first = start // down * up  # the output index of resampled[0]
        out = resampled[self._emitted - first : end - first]
        self._emitted = end
        keep_from = self._segment_start()
        self._kept = self._kept[keep_from - self._kept_start :]
        self._kept_start = keep_from
        return _pcm(out)

    def _segment_start(self) -> int:
        """Where to start resampling for the next output: `margin` before it, on a multiple
        of `down` so that the output samples of the segment fall on the stream's."""
        up, down = self._up, self._down
        return max(0, (self._emitted * down - self.margin * up) // (up * down) * down)


# --- microphone ----------------------------------------------------------------------------------


class Microphone:
    """The microphone as an async iterator of `block_samples`-sample blocks of 16 kHz mono
    16-bit little-endian PCM, ready for `AudioFrame`s:

        async with Microphone() as mic:
            async for pcm in mic:
                ...

    The stream is opened at 16 kHz (most PortAudio hosts resample); a device that refuses that
    rate is opened at its own and resampled here. Blocks lost to an overflow (the audio thread
    was late) or to a consumer stalled for over 10 s are counted in `overflows` and logged.
    If the device stops (unplugged), iteration raises NoAudioDevice.
    """

    def __init__(self, device: Device = None, *, block_samples: int = BLOCK_SAMPLES) -> None:
        if block_samples < 1:
            raise ValueError(f"block_samples must be positive, got {block_samples}")
        self.device = device
        self.block_samples = block_samples
        self.description = ""  # the opened device, see check_input_device
        self.overflows = 0
        self._block_bytes = block_samples * _BYTES_PER_SAMPLE
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._max_queued = max(1, int(_MAX_QUEUED_S * SAMPLE_RATE / block_samples))
        self._pending = bytearray()  # 16 kHz audio short of a block
        self._resampler: StreamResampler | None = None
        self._stream: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    async def __aenter__(self) -> Microphone:
        self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Start recording (from within the event loop that will iterate)."""
        if self._stream is not None:
            return
        self._loop = asyncio.get_running_loop()
        sd = _sounddevice("input")
        info = _device_info(sd, "input", self.device)
        rate = SAMPLE_RATE
        try:
            sd.check_input_settings(self.device, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
        except (sd.PortAudioError, ValueError):
            rate = int(info["default_samplerate"])
            self._resampler = StreamResampler(rate, SAMPLE_RATE)
            log.info("%s does not take %d Hz: recording at %d Hz", info["name"], SAMPLE_RATE, rate)
        self._stream = _open_stream(
            sd,
            "input",
            sd.RawInputStream,
            samplerate=rate,
            blocksize=round(self.block_samples * rate / SAMPLE_RATE),
            device=self.device,
            callback=self._callback,
            finished_callback=self._finished,
        )
        self.description = _describe(info)

    def close(self) -> None:
        """Stop recording; iteration ends after the blocks already received."""
        if self._closing:
            return
        self._closing = True
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
        self._queue.put_nowait(None)
        if self.overflows:
            log.warning("microphone: %d block(s) lost to overflows", self.overflows)

    def __aiter__(self) -> Microphone:
        return self

    async def __anext__(self) -> bytes:
        if self._stream is None and not self._closing:
            raise RuntimeError("the microphone is not open: use `async with Microphone() as mic`")
        while len(self._pending) < self._block_bytes:
            data = await self._queue.get()
            if data is None:
                self._queue.put_nowait(None)  # every later call ends too
                if self._closing:
                    raise StopAsyncIteration
                raise NoAudioDevice(
                    "input", "the input stream stopped; was the microphone unplugged?"
                )
            self._pending += self._resampler.push(data) if self._resampler else data
        block = bytes(self._pending[: self._block_bytes])
        del self._pending[: self._block_bytes]
        return block

    # Audio thread: copy, hand over, never raise.

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        self._call_in_loop(self._deliver, bytes(indata), bool(status.input_overflow))

    def _finished(self) -> None:
        self._call_in_loop(self._stopped)

    def _call_in_loop(self, function: Any, *args: Any) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(function, *args)

    # Loop thread.

    def _deliver(self, data: bytes, overflow: bool) -> None:
        if self._closing:
            return
        if overflow:
            self._lost("input overflow: the audio thread was late")
        if self._queue.qsize() >= self._max_queued:
            self._lost("nobody is reading the microphone")
            return
        self._queue.put_nowait(data)

    def _lost(self, why: str) -> None:
        self.overflows += 1
        # The first one is news; repeating it every 32 ms would bury everything else.
        level = logging.WARNING if self.overflows == 1 else logging.DEBUG
        log.log(level, "microphone: audio lost (%s); %d so far", why, self.overflows)

    def _stopped(self) -> None:
        if not self._closing:
            self._queue.put_nowait(None)


# --- speaker -------------------------------------------------------------------------------------


class PlaybackQueue:
    """PCM waiting to be played, handed out in fixed-size blocks (the output callback's).

    Thread-safe: the event loop adds audio and clears it on barge-in while the audio thread
    reads. Kept free of sounddevice so the playback logic is testable without a device."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._offset = 0  # bytes of _chunks[0] already handed out
        self._queued = 0  # bytes not yet handed out
        self._lock = threading.Lock()

    @property
    def queued(self) -> int:
        """Bytes not yet handed out."""
        return self._queued

    def __bool__(self) -> bool:
        return self._queued > 0

    def put(self, pcm: bytes) -> None:
        if pcm:
            with self._lock:
                self._chunks.append(pcm)
                self._queued += len(pcm)

    def read(self, size: int) -> bytes:
        """Exactly `size` bytes: the next queued audio, zero-padded when too little is left
        (an output callback must always fill its whole buffer)."""
        parts: list[bytes] = []
        wanted = size
        with self._lock:
            while wanted and self._chunks:
                chunk = self._chunks[0]
                part = chunk[self._offset : self._offset + wanted]
                parts.append(part)
                wanted -= len(part)
                self._offset += len(part)
                if self._offset == len(chunk):
                    self._chunks.popleft()
                    self._offset = 0
            self._queued -= size - wanted
        parts.append(bytes(wanted))
        return b"".join(parts)

    def clear(self) -> int:
        """Drop everything queued (barge-in); returns the bytes dropped."""
        with self._lock:
            dropped = self._queued
            self._chunks.clear()
            self._offset = self._queued = 0
        return dropped


class Speaker:
    """Plays 16-bit mono PCM without blocking the caller: `play()` queues it and returns,
    PortAudio's audio thread pulls it block by block. `stop()` drops what is queued, so a reply
    stops within one block when the user starts speaking; `drain()` waits until it is heard.

    The stream opens at the rate of the first chunk. A chunk at another rate reopens it when
    nothing is playing; while audio plays it is resampled instead, so `play()` never waits.
    Opening may raise NoAudioDevice; call `open(rate)` first to find out at start-up.
    """

    def __init__(self, device: Device = None, *, block_ms: int = SPEAKER_BLOCK_MS) -> None:
        if block_ms < 1:
            raise ValueError(f"block_ms must be positive, got {block_ms}")
        self.device = device
        self.block_ms = block_ms
        self.description = ""  # the opened device, see check_output_device
        self.sample_rate: int | None = None  # the open stream's
        self._queue = PlaybackQueue()
        self._stream: Any = None

    def __enter__(self) -> Speaker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def playing(self) -> bool:
        """Whether audio is queued that the device has not taken yet."""
        return bool(self._queue)

    def open(self, sample_rate: int) -> None:
        """Open (or reopen) the output stream at `sample_rate`; anything queued is dropped."""
        if self._stream is not None and sample_rate == self.sample_rate:
            return
        self.close()
        sd = _sounddevice("output")
        info = _device_info(sd, "output", self.device)
        self._stream = _open_stream(
            sd,
            "output",
            sd.RawOutputStream,
            samplerate=sample_rate,
            blocksize=sample_rate * self.block_ms // 1000,
            device=self.device,
            callback=self._callback,
        )
        self.sample_rate = sample_rate
        self.description = _describe(info)

    def play(self, pcm: bytes, sample_rate: int) -> None:
        """Queue 16-bit little-endian mono PCM and return at once."""
        if not pcm:
            return
        if self._stream is None or (sample_rate != self.sample_rate and not self.playing):
            self.open(sample_rate)
        elif sample_rate != self.sample_rate:
            assert self.sample_rate is not None
            pcm = _pcm(resample(_samples(pcm), sample_rate, self.sample_rate))
        self._queue.put(pcm)

    def stop(self) -> None:
        """Barge-in: drop everything queued; the device falls silent within one block."""
        self._queue.clear()

    async def drain(self) -> None:
        """Wait until everything queued has been played."""
        while self.playing:
            if not self._stream.active:
                self._queue.clear()
                raise NoAudioDevice(
                    "output", "the output stream stopped; was the speaker unplugged?"
                )
            await asyncio.sleep(self.block_ms / 1000)
        if self._stream is not None:
            # The last block has left the queue, not yet the loudspeaker.
            await asyncio.sleep(float(self._stream.latency))

    def close(self) -> None:
        """Stop at once and release the device; `play()` opens it again."""
        self._queue.clear()
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.abort()
            stream.close()
        self.sample_rate = None

    # Audio thread: copy, never raise.

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        outdata[:] = self._queue.read(frames * _BYTES_PER_SAMPLE)
