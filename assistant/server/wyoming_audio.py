"""Audio a Wyoming client sends, turned into what Whisper hears (16 kHz mono 16-bit).

A client says its format (rate, sample width, channels) in `audio-start` and in every
`audio-chunk`; Home Assistant sends 16 kHz 16-bit mono, but a satellite or a script may send
anything PCM. The chunks are decoded and downmixed as they come, kept at the client's rate, and
resampled once at the end (resampling each chunk alone would click at every boundary). Anything
that cannot be used is an `AudioFormatError` whose text says what was wrong and what to send.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from assistant.audio.wav import SAMPLE_RATE, Audio, resample

MIN_RATE, MAX_RATE = 4_000, 192_000
MAX_CHANNELS = 8
WIDTHS = (1, 2, 3, 4)  # bytes: unsigned 8-bit, signed 16-, 24- and 32-bit little-endian


class AudioFormatError(ValueError):
    """Audio the server cannot use; the message is one line for the client."""


@dataclass(frozen=True, slots=True)
class AudioFormat:
    rate: int
    width: int
    channels: int

    @classmethod
    def of(cls, data: dict[str, object], event: str) -> AudioFormat:
        """The format an audio-start or audio-chunk event's data gives, checked."""
        values = [data.get(key) for key in ("rate", "width", "channels")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise AudioFormatError(
                f"{event}: rate, width and channels must be integers, got {values}; "
                "send e.g. rate 16000, width 2, channels 1"
            )
        rate, width, channels = (int(v) for v in values)  # type: ignore[call-overload]
        if not MIN_RATE <= rate <= MAX_RATE:
            raise AudioFormatError(
                f"{event}: a rate of {rate} Hz is not supported; send {MIN_RATE}-{MAX_RATE} Hz "
                "(16000 is best)"
            )
        if width not in WIDTHS:
            raise AudioFormatError(
                f"{event}: a sample width of {width} bytes is not supported; send 16-bit PCM "
                "(width 2), or 8-, 24- or 32-bit (width 1, 3, 4)"
            )
        if not 1 <= channels <= MAX_CHANNELS:
            raise AudioFormatError(
                f"{event}: {channels} channels is not supported; send 1 (mono) to "
                f"{MAX_CHANNELS} channels"
            )
        return cls(rate, width, channels)

    def __str__(self) -> str:
        return f"{self.rate} Hz, {8 * self.width}-bit, {self.channels} channel(s)"


@dataclass
class IncomingAudio:
    """One audio stream (audio-start ... audio-stop), at most `max_seconds` long."""

    format: AudioFormat
    max_seconds: float
    _parts: list[npt.NDArray[np.float32]] = field(default_factory=list)
    _frames: int = 0

    @property
    def seconds(self) -> float:
        return self._frames / self.format.rate

    def add(self, chunk_format: AudioFormat, payload: bytes) -> None:
        """Decode and keep one chunk, which must be in the stream's format."""
        if chunk_format != self.format:
            raise AudioFormatError(
                f"audio-chunk: the format changed from {self.format} to {chunk_format} within "
                "one stream; send every chunk of a stream in the format audio-start gave"
            )
        mono = to_mono_float(payload, self.format)
        self._frames += len(mono)
        if self.seconds > self.max_seconds:
            raise AudioFormatError(
                f"audio-chunk: the audio is longer than {self.max_seconds:g} s; send one "
                "utterance per transcribe"
            )
        self._parts.append(mono)

    def to_audio(self) -> Audio:
        """Blocking (resampling): the whole stream as 16 kHz mono int16."""
        samples = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        resampled = resample(samples, self.format.rate, SAMPLE_RATE)
        ints = np.clip(np.round(resampled * 32768.0), -32768, 32767).astype(np.int16)
        return Audio(ints, SAMPLE_RATE)


def to_mono_float(payload: bytes, audio: AudioFormat) -> npt.NDArray[np.float32]:
    """PCM bytes of any supported width and channel count -> mono float samples in [-1, 1)."""
    frame_bytes = audio.width * audio.channels
    if len(payload) % frame_bytes:
        raise AudioFormatError(
            f"audio-chunk: {len(payload)} bytes is not a whole number of {frame_bytes}-byte "
            f"frames ({audio}); send whole frames"
        )
    samples = _decode(payload, audio.width)
    if audio.channels > 1:
        samples = samples.reshape(-1, audio.channels).mean(axis=1, dtype=np.float32)
    return samples


def _decode(payload: bytes, width: int) -> npt.NDArray[np.float32]:
    if width == 1:  # WAV's 8-bit PCM is unsigned, centred on 128
        return (np.frombuffer(payload, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(payload, "<i2").astype(np.float32) / 32768.0
    if width == 3:
        bytes3 = np.frombuffer(payload, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)  # sign-extend
        return ints.astype(np.float32) / float(1 << 23)
    return np.frombuffer(payload, "<i4").astype(np.float32) / float(1 << 31)
