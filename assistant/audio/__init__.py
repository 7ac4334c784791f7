"""Audio in and out of the pipeline: files (and, later, devices), always 16 kHz mono 16-bit."""

from assistant.audio.wav import SAMPLE_RATE, Audio, AudioFileError, frames, read_wav, write_wav

__all__ = ["SAMPLE_RATE", "Audio", "AudioFileError", "frames", "read_wav", "write_wav"]
