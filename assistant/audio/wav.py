"""Reading and writing audio files, and cutting audio into bus-sized frames.

Everything inside the pipeline is 16 kHz mono 16-bit PCM (what the VAD and Whisper expect), so
`read_wav` converts whatever it is given: any sample rate, channel count and sample format that
libsndfile decodes (WAV of 8/16/24/32-bit int or float, and also FLAC, OGG, ...). Every problem
with a file is an `AudioFileError` whose message is one line: the file, what is wrong, what to do.
"""

from __future__ import annotations

import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

SAMPLE_RATE = 16_000
"""The pipeline's sample rate."""

_INT16_SCALE = 32768.0  # int16 <-> float in [-1, 1): exact both ways for 16-bit input
_UNKNOWN_SIZES = (0, 0xFFFF_FFFF)  # what streaming writers put in a header they never finish


class AudioFileError(ValueError):
    """An audio file cannot be used: missing, empty, truncated, or not audio."""


@dataclass(frozen=True, slots=True, eq=False)
class Audio:
    """Mono int16 samples (read-only) at `sample_rate` (16 kHz when it comes from `read_wav`)."""

    samples: npt.NDArray[np.int16]
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    @property
    def pcm(self) -> bytes:
        """16-bit little-endian PCM, as `AudioFrame` and `UtteranceAudio` carry it."""
        return self.samples.astype("<i2", copy=False).tobytes()

    @classmethod
    def from_pcm(cls, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> Audio:
        return cls(_pcm_to_int16(pcm), sample_rate)


# --- reading -------------------------------------------------------------------------------------


def read_wav(path: str | Path) -> Audio:
    """Read an audio file as 16 kHz mono int16, downmixing and resampling as needed."""
    path = Path(path)
    size = _file_size(path)
    _check_not_truncated(path, size)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except soundfile.SoundFileError as exc:
        raise AudioFileError(_unreadable(path, exc)) from None
    except OSError as exc:
        raise AudioFileError(
            f"{path}: cannot be read ({exc.strerror}); check its permissions"
        ) from None
    if data.shape[0] == 0:
        raise AudioFileError(
            f"{path}: contains no audio (a valid header with 0 samples); record or export it again"
        )
    mono = data.mean(axis=1)  # downmix: the average of the channels
    return Audio(_float_to_int16(resample(mono, int(rate), SAMPLE_RATE)))


def _file_size(path: Path) -> int:
    if not path.exists():
        raise AudioFileError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise AudioFileError(
            f"{path}: is a folder, not an audio file; give the path of a .wav file"
        )
    size = path.stat().st_size
    if size == 0:
        raise AudioFileError(f"{path}: is empty (0 bytes); record or export the audio again")
    return size


def _check_not_truncated(path: Path, size: int) -> None:
    """libsndfile silently reads a WAV whose data was cut short (an interrupted copy or
    recording), which would hide the problem; compare the data chunk's declared size with the
    bytes really there. Files that are not RIFF/WAVE are left to libsndfile to judge."""
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size not in _UNKNOWN_SIZES and available < chunk_size:
                    missing = 1 - available / chunk_size
                    raise AudioFileError(
                        f"{path}: truncated: the header announces {chunk_size} bytes of audio "
                        f"but only {available} are there ({missing:.0%} missing); copy, export "
                        "or record the file again"
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to an even size


def _unreadable(path: Path, exc: soundfile.SoundFileError) -> str:
    with path.open("rb") as f:
        head = f.read(12)
    detail = str(exc).rpartition(": ")[2].strip()
    because = f" ({detail})" if detail else ""
    if head[:4] in (b"RIFF", b"RIFX", b"RF64"):
        return (
            f"{path}: the WAV header is damaged or incomplete{because}; "
            "export or record the file again"
        )
    return (
        f"{path}: not a WAV file (it starts with {head[:8]!r}, a WAV file starts with b'RIFF')"
        f"{because}; convert it to WAV, ideally 16 kHz mono 16-bit"
    )


def resample(
    samples: npt.NDArray[np.floating], from_rate: int, to_rate: int
) -> npt.NDArray[np.float32]:
    """Polyphase resampling (scipy's `resample_poly`): its FIR low-pass filter removes what is
    above the new Nyquist frequency, so downsampling does not alias."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly  # ~1 s to import: only when it is needed

    divisor = gcd(from_rate, to_rate)
    resampled = resample_poly(samples, to_rate // divisor, from_rate // divisor)
    return np.asarray(resampled, dtype=np.float32)


def _float_to_int16(samples: npt.NDArray[np.floating]) -> npt.NDArray[np.int16]:
    scaled = np.nan_to_num(np.round(samples * _INT16_SCALE), nan=0.0, posinf=0.0, neginf=0.0)
    ints = np.clip(scaled, -32768, 32767).astype(np.int16)
    ints.flags.writeable = False  # Audio is immutable, its samples too
    return ints


def _pcm_to_int16(pcm: bytes) -> npt.NDArray[np.int16]:
    if len(pcm) % 2:
        raise ValueError(f"16-bit PCM needs an even number of bytes, got {len(pcm)}")
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16, copy=False)


# --- writing -------------------------------------------------------------------------------------


def write_wav(path: str | Path, pcm_int16: npt.NDArray[np.int16] | bytes, sample_rate: int) -> None:
    """Write 16-bit PCM as a WAV file. `pcm_int16` is int16 samples (1-D mono, or 2-D as
    frames x channels) or mono 16-bit little-endian bytes."""
    if isinstance(pcm_int16, bytes):
        samples = _pcm_to_int16(pcm_int16)
        channels = 1
    else:
        if pcm_int16.dtype != np.int16:
            raise TypeError(
                f"write_wav needs int16 samples, got {pcm_int16.dtype}; scale float audio by "
                "32767 and convert it first"
            )
        if pcm_int16.ndim not in (1, 2):
            raise ValueError(f"expected 1-D or (frames, channels) samples, got {pcm_int16.shape}")
        samples = pcm_int16
        channels = 1 if pcm_int16.ndim == 1 else pcm_int16.shape[1]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.astype("<i2", copy=False).tobytes())


# --- framing -------------------------------------------------------------------------------------


def frames(audio: Audio, frame_ms: int = 32) -> Iterator[bytes]:
    """Cut audio into `frame_ms` blocks of 16-bit LE PCM for `AudioFrame`s; the last one may be
    shorter, but never empty (an empty frame means end of stream to the VAD)."""
    samples_per_frame = audio.sample_rate * frame_ms // 1000
    if samples_per_frame < 1:
        raise ValueError(f"frame_ms={frame_ms} is shorter than one sample")
    pcm = audio.pcm
    step = 2 * samples_per_frame
    for start in range(0, len(pcm), step):
        yield pcm[start : start + step]
