"""Microphone and speaker without a sound card: a fake `sounddevice` module whose streams call
the callbacks from their own thread, as PortAudio's audio thread does; one-line NoAudioDevice
errors for every way a device can be missing; and the real check on this machine."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.audio import devices
from assistant.audio.devices import (
    BLOCK_SAMPLES,
    HINTS,
    Microphone,
    NoAudioDevice,
    PlaybackQueue,
    Speaker,
    StreamResampler,
    check_input_device,
    check_output_device,
)
from assistant.audio.wav import resample

# --- a fake sounddevice --------------------------------------------------------------------------


class FakePortAudioError(Exception):
    def __str__(self) -> str:  # as sounddevice.PortAudioError's
        message = str(self.args[0])
        return f"{message} [PaErrorCode {self.args[1]}]" if len(self.args) > 1 else message


class Flags:
    def __init__(self, overflow: bool = False) -> None:
        self.input_overflow = overflow


class FakeStream:
    """Calls the callback from a thread once started, like PortAudio."""

    def __init__(self, sd: FakeSoundDevice, **settings: Any) -> None:
        self.sd = sd
        self.settings = settings
        self.samplerate: int = settings["samplerate"]
        self.blocksize: int = settings["blocksize"]
        self.latency = 0.0
        self.active = False
        self.closed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        sd.streams.append(self)

    def start(self) -> None:
        if self.sd.start_error:
            raise self.sd.start_error
        self.active = True
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.active = False

    abort = stop

    def close(self) -> None:
        self.stop()
        self.closed = True

    def _run(self) -> None:
        raise NotImplementedError


class FakeInputStream(FakeStream):
    """Delivers `sd.recording` (bytes, overflow flag) block by block, then waits for stop();
    with `sd.unplug`, the stream finishes by itself instead, as on a device error."""

    def _run(self) -> None:
        callback = self.settings["callback"]
        for pcm, overflow in self.sd.recording:
            callback(pcm, len(pcm) // 2, None, Flags(overflow))
        if self.sd.unplug:
            self.active = False
            self.settings["finished_callback"]()
            return
        self._stop.wait()


class FakeOutputStream(FakeStream):
    """Pulls a block through the callback every `sd.block_interval` s into `sd.played`."""

    def _run(self) -> None:
        while not self._stop.wait(self.sd.block_interval):
            buffer = bytearray(2 * self.blocksize)
            # A memoryview cannot change size, like the cffi buffer PortAudio hands over.
            self.settings["callback"](memoryview(buffer), self.blocksize, None, Flags())
            with self.sd.lock:
                self.sd.played += buffer


def device(index: int, rate: int, *, inputs: int = 1, outputs: int = 2) -> dict[str, Any]:
    return {
        "name": f"Fake device {index}",
        "index": index,
        "max_input_channels": inputs,
        "max_output_channels": outputs,
        "default_samplerate": float(rate),
    }


class FakeSoundDevice(types.ModuleType):
    PortAudioError = FakePortAudioError

    def __init__(self, rate: int = 16_000) -> None:
        super().__init__("sounddevice")
        self.info: dict[str, Any] = device(3, rate)
        self.supports_16k = rate == 16_000
        self.query_error: Exception | None = None
        self.open_error: Exception | None = None
        self.start_error: Exception | None = None
        self.streams: list[FakeStream] = []
        self.recording: list[tuple[bytes, bool]] = []
        self.unplug = False
        self.played = bytearray()
        self.lock = threading.Lock()
        self.block_interval = 0.0005

    def query_devices(self, device: object = None, kind: str | None = None) -> dict[str, Any]:
        if self.query_error:
            raise self.query_error
        return self.info

    def check_input_settings(self, device: object = None, **settings: Any) -> None:
        if settings["samplerate"] == 16_000 and not self.supports_16k:
            raise FakePortAudioError("Invalid sample rate", -9997)

    def RawInputStream(self, **settings: Any) -> FakeInputStream:
        if self.open_error:
            raise self.open_error
        return FakeInputStream(self, **settings)

    def RawOutputStream(self, **settings: Any) -> FakeOutputStream:
        if self.open_error:
            raise self.open_error
        return FakeOutputStream(self, **settings)

    def audio(self) -> bytes:
        """What was played, without the silence the stream sent while idle."""
        with self.lock:
            return bytes(self.played).strip(b"\0")


@pytest.fixture
def sd(monkeypatch: pytest.MonkeyPatch) -> FakeSoundDevice:
    fake = FakeSoundDevice()
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    return fake


def pcm_pattern(n_bytes: int, seed: int = 0) -> bytes:
    """Distinct, never-zero bytes: audio that cannot be mistaken for padding or reordered."""
    return bytes(1 + (i * 7 + seed) % 255 for i in range(n_bytes))


def assert_one_line(error: NoAudioDevice, noun: str, kind: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"no usable {noun} (")
    assert message.endswith(f"); {HINTS[error.kind]}")
    assert error.kind == kind


# --- NoAudioDevice in every way a device can be missing ------------------------------------------


def test_sounddevice_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # makes `import sounddevice` fail

    with pytest.raises(NoAudioDevice) as caught:
        check_input_device()

    assert_one_line(caught.value, "microphone", "input")
    assert "pip install sounddevice" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("raise OSError('PortAudio library not found')", "install the libportaudio2 package"),
        (
            "class PortAudioError(Exception): pass\n"
            "raise PortAudioError('Error initializing PortAudio:\\nHost error')",
            "PortAudio failed to start: Error initializing PortAudio: Host error",
        ),
    ],
    ids=["no-portaudio-library", "portaudio-init-fails"],
)
def test_portaudio_unusable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str, expected: str
) -> None:
    # A real import of a module that fails as sounddevice's does, whatever this machine has.
    (tmp_path / "sounddevice.py").write_text(body + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)

    with pytest.raises(NoAudioDevice) as caught:
        check_output_device()

    assert_one_line(caught.value, "speaker", "output")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    "error",
    [FakePortAudioError("Error querying device -1"), ValueError("Not an input device: 'HDMI'")],
)
def test_no_default_input_device(sd: FakeSoundDevice, error: Exception) -> None:
    sd.query_error = error

    with pytest.raises(NoAudioDevice) as caught:
        check_input_device()

    assert_one_line(caught.value, "microphone", "input")
    assert "PortAudio reports no input device" in str(caught.value)


def test_device_without_input_channels(sd: FakeSoundDevice) -> None:
    sd.info = device(0, 48_000, inputs=0)

    with pytest.raises(NoAudioDevice, match="PortAudio reports no input device"):
        check_input_device()


def test_devices_found(sd: FakeSoundDevice) -> None:
    assert check_input_device() == "Fake device 3 (device 3, 16000 Hz)"
    assert check_output_device() == "Fake device 3 (device 3, 16000 Hz)"


def test_opening_the_input_stream_fails(sd: FakeSoundDevice) -> None:
    sd.open_error = FakePortAudioError("Device unavailable\n", -9985)

    async def main() -> None:
        async with Microphone():
            pass

    with pytest.raises(NoAudioDevice) as caught:
        asyncio.run(main())

    assert_one_line(caught.value, "microphone", "input")
    assert "cannot open the input stream: Device unavailable [PaErrorCode -9985]" in str(
        caught.value
    )


def test_starting_the_output_stream_fails(sd: FakeSoundDevice) -> None:
    sd.start_error = FakePortAudioError("Error starting stream")

    with pytest.raises(NoAudioDevice) as caught:
        Speaker().play(pcm_pattern(100), 16_000)

    assert_one_line(caught.value, "speaker", "output")
    assert sd.streams[0].closed


def test_this_machine_without_a_sound_card() -> None:
    """The real sounddevice and PortAudio (or their absence): a NoAudioDevice, nothing else."""
    for check, noun, kind in [
        (check_input_device, "microphone", "input"),
        (check_output_device, "speaker", "output"),
    ]:
        try:
            found = check()
        except NoAudioDevice as error:
            assert_one_line(error, noun, kind)
        else:
            pytest.skip(f"this machine has a {noun}: {found}")


# --- microphone ----------------------------------------------------------------------------------


def test_block_is_one_vad_window() -> None:
    from assistant.speech.vad import CHUNK

    assert BLOCK_SAMPLES == CHUNK


async def take(mic: Microphone, count: int) -> list[bytes]:
    return [await asyncio.wait_for(anext(mic), timeout=5) for _ in range(count)]


def test_microphone_yields_the_blocks_in_order(sd: FakeSoundDevice) -> None:
    blocks = [pcm_pattern(2 * BLOCK_SAMPLES, seed) for seed in range(20)]
    sd.recording = [(block, False) for block in blocks]

    async def main() -> list[bytes]:
        async with Microphone() as mic:
            return await take(mic, len(blocks))

    assert asyncio.run(main()) == blocks
    stream = sd.streams[0]
    assert (stream.samplerate, stream.blocksize) == (16_000, BLOCK_SAMPLES)
    assert stream.settings["dtype"] == "int16" and stream.settings["channels"] == 1
    assert stream.closed


def test_microphone_regroups_odd_sized_blocks(sd: FakeSoundDevice) -> None:
    audio = pcm_pattern(2 * 480 * 7)
    sd.recording = [(audio[i : i + 300], False) for i in range(0, len(audio), 300)]

    async def main() -> list[bytes]:
        async with Microphone(block_samples=480) as mic:
            return await take(mic, 7)

    assert asyncio.run(main()) == [audio[i : i + 960] for i in range(0, len(audio), 960)]


def test_overflow_is_counted_and_the_block_kept(sd: FakeSoundDevice) -> None:
    blocks = [pcm_pattern(2 * BLOCK_SAMPLES, seed) for seed in range(3)]
    sd.recording = [(blocks[0], False), (blocks[1], True), (blocks[2], True)]

    async def main() -> tuple[list[bytes], int]:
        async with Microphone() as mic:
            return await take(mic, 3), mic.overflows

    assert asyncio.run(main()) == (blocks, 2)


def test_closing_ends_the_iteration(sd: FakeSoundDevice) -> None:
    sd.recording = [(pcm_pattern(2 * BLOCK_SAMPLES), False)]

    async def main() -> list[bytes]:
        async with Microphone() as mic:
            first = await take(mic, 1)
            mic.close()
            return first + [block async for block in mic]

    assert len(asyncio.run(main())) == 1


def test_iterating_a_microphone_never_opened(sd: FakeSoundDevice) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        asyncio.run(anext(Microphone()))


def test_unplugged_microphone(sd: FakeSoundDevice) -> None:
    block = pcm_pattern(2 * BLOCK_SAMPLES)
    sd.recording = [(block, False)]
    sd.unplug = True

    async def main() -> list[bytes]:
        async with Microphone() as mic:
            return [block async for block in mic]

    with pytest.raises(NoAudioDevice, match="unplugged") as caught:
        asyncio.run(main())

    assert_one_line(caught.value, "microphone", "input")


def test_microphone_at_48k_is_resampled(monkeypatch: pytest.MonkeyPatch) -> None:
    sd = FakeSoundDevice(rate=48_000)
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    seconds = 0.5
    t = np.arange(int(48_000 * seconds)) / 48_000
    tone = np.round(8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    native_block = 3 * BLOCK_SAMPLES
    sd.recording = [
        (tone[i : i + native_block].tobytes(), False) for i in range(0, len(tone), native_block)
    ]
    count = int(16_000 * seconds) // BLOCK_SAMPLES - 1  # the resampler holds back a few samples

    async def main() -> list[bytes]:
        async with Microphone() as mic:
            return await take(mic, count)

    blocks = asyncio.run(main())

    assert (sd.streams[0].samplerate, sd.streams[0].blocksize) == (48_000, native_block)
    assert all(len(b) == 2 * BLOCK_SAMPLES for b in blocks)
    got = np.frombuffer(b"".join(blocks), dtype="<i2").astype(np.float64)
    expected = resample(tone.astype(np.float32), 48_000, 16_000)[: len(got)]
    assert np.abs(got - expected).max() <= 1  # the same as resampling it all, to rounding


def test_callback_after_the_loop_closed_does_not_raise(sd: FakeSoundDevice) -> None:
    mic = Microphone()

    async def main() -> None:
        mic.open()

    asyncio.run(main())  # the loop is closed, the stream (never closed) still calls back
    mic._callback(pcm_pattern(8), 4, None, Flags())
    mic._finished()
    mic.close()


# --- the streaming resampler ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_rate", "to_rate"), [(48_000, 16_000), (44_100, 16_000), (8_000, 16_000)]
)
def test_stream_resampler_matches_resampling_everything(from_rate: int, to_rate: int) -> None:
    rng = np.random.default_rng(0)
    samples = np.round(rng.normal(0, 4000, from_rate // 2)).clip(-32768, 32767).astype("<i2")
    resampler = StreamResampler(from_rate, to_rate)
    out = bytearray()
    position = 0
    while position < len(samples):
        size = int(rng.integers(1, 2000))
        out += resampler.push(samples[position : position + size].tobytes())
        position += size

    got = np.frombuffer(bytes(out), dtype="<i2").astype(np.float64)
    expected = resample(samples.astype(np.float32), from_rate, to_rate)
    held_back = resampler.margin * to_rate // from_rate + 1
    assert len(expected) - held_back <= len(got) <= len(expected)
    assert np.abs(got - expected[: len(got)]).max() <= 1


# --- playback queue ------------------------------------------------------------------------------


def test_playback_queue_hands_out_fixed_blocks_across_chunks() -> None:
    queue = PlaybackQueue()
    queue.put(b"abc")
    queue.put(b"")
    queue.put(b"defgh")

    assert queue.queued == 8 and queue
    assert queue.read(2) == b"ab"
    assert queue.read(4) == b"cdef"
    assert queue.read(4) == b"gh\0\0"  # zero-padded at the end
    assert queue.queued == 0 and not queue
    assert queue.read(3) == b"\0\0\0"


def test_playback_queue_clear_drops_everything() -> None:
    queue = PlaybackQueue()
    queue.put(b"abcdef")
    queue.read(2)

    assert queue.clear() == 4
    assert queue.read(2) == b"\0\0" and not queue
    queue.put(b"xy")
    assert queue.read(2) == b"xy"


def test_playback_queue_between_threads() -> None:
    queue = PlaybackQueue()
    audio = pcm_pattern(100_000)
    out = bytearray()
    deadline = time.monotonic() + 10

    def reader() -> None:  # as the audio thread: reads while the loop is still adding
        while len(out) < len(audio) and time.monotonic() < deadline:
            out.extend(queue.read(640).rstrip(b"\0"))  # the audio is never zero, padding is

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(0, len(audio), 1000):
        queue.put(audio[i : i + 1000])
    thread.join()

    assert bytes(out) == audio


# --- speaker -------------------------------------------------------------------------------------


@pytest.fixture
def speaker(sd: FakeSoundDevice) -> Iterator[Speaker]:
    with Speaker() as speaker:
        yield speaker


def test_speaker_plays_what_is_queued(sd: FakeSoundDevice, speaker: Speaker) -> None:
    chunks = [pcm_pattern(3000, seed) for seed in range(4)]

    async def main() -> None:
        for chunk in chunks:
            speaker.play(chunk, 22_050)  # returns at once
        assert speaker.playing
        await asyncio.wait_for(speaker.drain(), timeout=10)
        assert not speaker.playing

    asyncio.run(main())

    assert sd.audio() == b"".join(chunks)
    assert len(sd.streams) == 1
    assert sd.streams[0].samplerate == 22_050 and sd.streams[0].blocksize == 441  # 20 ms


def test_stop_drops_the_rest_within_a_block(sd: FakeSoundDevice, speaker: Speaker) -> None:
    sd.block_interval = 0.002
    audio = pcm_pattern(2 * 16_000 * 2)  # 2 s
    block = 2 * 320

    async def main() -> int:
        speaker.play(audio, 16_000)
        while len(sd.audio()) < 4 * block:
            await asyncio.sleep(0.001)
        speaker.stop()
        with sd.lock:
            stopped_at = len(sd.played)
        assert not speaker.playing
        await asyncio.wait_for(speaker.drain(), timeout=1)
        await asyncio.sleep(0.05)
        return stopped_at

    stopped_at = asyncio.run(main())

    heard = sd.audio()
    assert 4 * block <= len(heard) < len(audio)
    assert audio.startswith(heard)
    with sd.lock:
        assert not any(sd.played[stopped_at + block :])  # silence, at most a block later


def test_rate_change_reopens_when_idle_and_resamples_while_busy(
    sd: FakeSoundDevice, speaker: Speaker
) -> None:
    sd.block_interval = 60  # the device takes nothing: what is queued stays queued

    async def main() -> None:
        speaker.play(pcm_pattern(2000), 16_000)
        speaker.stop()
        speaker.play(pcm_pattern(2 * 22_050), 22_050)  # idle: a new stream at 22.05 kHz
        assert [s.samplerate for s in sd.streams] == [16_000, 22_050]
        assert sd.streams[0].closed
        before = speaker._queue.queued
        speaker.play(pcm_pattern(2 * 16_000), 16_000)  # busy: resampled to 22.05 kHz
        assert speaker._queue.queued - before == 2 * 22_050
        assert len(sd.streams) == 2

    asyncio.run(main())


def test_drain_reports_a_speaker_that_stopped(sd: FakeSoundDevice, speaker: Speaker) -> None:
    sd.block_interval = 0.01

    async def main() -> None:
        speaker.play(pcm_pattern(2 * 16_000), 16_000)
        sd.streams[0].stop()  # as when the device goes away
        await asyncio.wait_for(speaker.drain(), timeout=1)

    with pytest.raises(NoAudioDevice, match="unplugged") as caught:
        asyncio.run(main())

    assert_one_line(caught.value, "speaker", "output")
    assert not speaker.playing


def test_close_releases_the_device(sd: FakeSoundDevice) -> None:
    speaker = Speaker()
    speaker.play(pcm_pattern(2000), 16_000)
    speaker.close()
    speaker.close()

    assert sd.streams[0].closed and not speaker.playing
    assert speaker.block_ms == devices.SPEAKER_BLOCK_MS
