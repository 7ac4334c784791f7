"""Reading any WAV as 16 kHz mono int16, clear errors for bad files, writing, and framing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from assistant.audio.wav import SAMPLE_RATE, Audio, AudioFileError, frames, read_wav, write_wav


def tone(frequency: float, seconds: float, rate: int) -> npt.NDArray[np.float64]:
    t = np.arange(int(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * frequency * t)


def dominant_frequency(audio: Audio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(audio.samples), 1 / audio.sample_rate)[spectrum.argmax()])


def test_44k_stereo_float_becomes_16k_mono(tmp_path: Path) -> None:
    left = tone(440, 2.5, 44_100)
    stereo = np.stack([left, left], axis=1)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo, 44_100, subtype="FLOAT")

    audio = read_wav(path)

    assert audio.sample_rate == SAMPLE_RATE
    assert audio.samples.dtype == np.int16 and audio.samples.ndim == 1
    assert audio.duration == pytest.approx(2.5, abs=1e-3)
    assert dominant_frequency(audio) == pytest.approx(440, abs=2)
    # A 0.5 amplitude tone stays one (resampling neither clips nor loses level).
    assert np.abs(audio.samples).max() / 32768 == pytest.approx(0.5, abs=0.02)


def test_8k_8bit(tmp_path: Path) -> None:
    path = tmp_path / "phone.wav"
    soundfile.write(path, tone(1000, 1.0, 8000), 8000, subtype="PCM_U8")

    audio = read_wav(path)

    assert audio.duration == pytest.approx(1.0, abs=1e-3)
    assert dominant_frequency(audio) == pytest.approx(1000, abs=2)


def test_downmix_averages_the_channels(tmp_path: Path) -> None:
    signal = tone(300, 0.5, 16_000)
    path = tmp_path / "one_side.wav"
    soundfile.write(path, np.stack([signal, np.zeros_like(signal)], axis=1), 16_000)

    peak = np.abs(read_wav(path).samples).max() / 32768

    assert peak == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "DOUBLE"])
def test_sample_widths(tmp_path: Path, subtype: str) -> None:
    path = tmp_path / f"{subtype}.wav"
    soundfile.write(path, tone(500, 0.75, 22_050), 22_050, subtype=subtype)

    audio = read_wav(path)

    assert audio.duration == pytest.approx(0.75, abs=1e-3)
    assert dominant_frequency(audio) == pytest.approx(500, abs=3)


def test_16k_mono_16bit_reads_back_exactly(tmp_path: Path) -> None:
    samples = np.random.default_rng(0).integers(-32768, 32767, 16_000, dtype=np.int16)
    path = tmp_path / "round_trip.wav"

    write_wav(path, samples, 16_000)
    audio = read_wav(path)

    np.testing.assert_array_equal(audio.samples, samples)
    with pytest.raises(ValueError):
        audio.samples[0] = 1  # read-only: Audio is immutable


def test_write_bytes_and_stereo(tmp_path: Path) -> None:
    samples = (tone(200, 0.5, 16_000) * 32767).astype(np.int16)
    write_wav(tmp_path / "bytes.wav", samples.tobytes(), 16_000)
    write_wav(tmp_path / "stereo.wav", np.stack([samples, samples], axis=1), 16_000)

    np.testing.assert_array_equal(read_wav(tmp_path / "bytes.wav").samples, samples)
    np.testing.assert_array_equal(read_wav(tmp_path / "stereo.wav").samples, samples)
    assert soundfile.info(str(tmp_path / "stereo.wav")).channels == 2


def test_write_rejects_float_samples(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="int16"):
        write_wav(tmp_path / "x.wav", np.zeros(10, dtype=np.float32), 16_000)  # type: ignore[arg-type]


# --- bad files -----------------------------------------------------------------------------------


def valid_wav_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "valid.wav"
    write_wav(path, (tone(440, 1.0, 16_000) * 32767).astype(np.int16), 16_000)
    return path.read_bytes()


def assert_one_line_error(path: Path, *phrases: str) -> None:
    with pytest.raises(AudioFileError) as caught:
        read_wav(path)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "\n" not in message and message.startswith(str(path))
    for phrase in phrases:
        assert phrase in message


def test_text_file_renamed_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("shopping list: milk, eggs\n")
    assert_one_line_error(path, "not a WAV file", "b'shopping'", "convert it to WAV")


def test_truncated_data(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    path.write_bytes(valid_wav_bytes(tmp_path)[:20_000])
    assert_one_line_error(path, "truncated", "32000 bytes", "only 19956", "again")


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "cut_header.wav"
    path.write_bytes(valid_wav_bytes(tmp_path)[:30])
    assert_one_line_error(path, "header is damaged or incomplete", "again")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.touch()
    assert_one_line_error(path, "is empty (0 bytes)", "record or export")


def test_header_without_samples(tmp_path: Path) -> None:
    path = tmp_path / "silent_header.wav"
    write_wav(path, b"", 16_000)
    assert_one_line_error(path, "contains no audio")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert_one_line_error(tmp_path / "nope.wav", "no such file")
    assert_one_line_error(tmp_path, "is a folder")


# --- framing -------------------------------------------------------------------------------------


def test_frames_cover_the_audio_in_32ms_blocks() -> None:
    audio = Audio(np.arange(16_000 + 100, dtype=np.int16))

    blocks = list(frames(audio))

    assert all(len(b) == 1024 for b in blocks[:-1])  # 512 samples = 32 ms at 16 kHz
    assert len(blocks[-1]) == 2 * ((16_100) % 512) and blocks[-1]
    assert b"".join(blocks) == audio.pcm
    assert Audio.from_pcm(blocks[0]).samples[:3].tolist() == [0, 1, 2]  # little-endian int16
