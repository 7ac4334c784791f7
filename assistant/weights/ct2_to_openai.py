"""Convert a CTranslate2 Whisper model into an openai-whisper checkpoint.

No package ships openai-whisper's `.pt` files and `whisper.load_model("tiny.en")` downloads, but
the packaged CTranslate2 models hold the same tensors under other names. `model.bin` (binary
version 6) is a header (version, spec name, revision), then each tensor as name, rank, shape,
dtype code, byte count and bytes, then aliases (a name that shares another tensor's data).

What differs from openai-whisper's layout: self-attention q/k/v are one fused matrix and
cross-attention k/v another; the key projection has no bias in openai-whisper (CTranslate2 stores
zeros there, and a bias on the keys only shifts every attention score of a query by the same
amount, which softmax ignores, so dropping it is exact); layer norms are gamma/beta; the output
projection is an alias of the token embedding (openai-whisper ties them too); and weights may be
stored quantized (int8/int16 with a per-row `weight_scale`), which is undone here.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from assistant.weights import WHISPER_CT2
from assistant.weights.whisper_base import Progress

BINARY_VERSION = 6
SPEC = "WhisperSpec"
CHECKPOINT_DIR = "openai-whisper"

_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")  # CTranslate2's type ids
_LAYER = re.compile(r"(encoder|decoder)/layer_(\d+)/")

Array = npt.NDArray[Any]


class Ct2FormatError(ValueError):
    """The file is not a CTranslate2 Whisper model this reader understands."""


@dataclass(frozen=True, slots=True)
class TensorEntry:
    """Where one tensor's bytes are in model.bin, and how to read them."""

    shape: tuple[int, ...]
    dtype: str
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Ct2Model:
    """The header of a CTranslate2 `model.bin`: tensors are read on demand, not held in memory."""

    path: Path
    version: int
    spec: str
    revision: int
    tensors: dict[str, TensorEntry]
    aliases: dict[str, str]

    @classmethod
    def read(cls, path: Path) -> Ct2Model:
        """Parse the header and the tensor table (seeking past the data)."""
        with path.open("rb") as f:
            (version,) = _unpack(f, "I")
            if version != BINARY_VERSION:
                raise Ct2FormatError(
                    f"{path}: CTranslate2 binary version {version}, this reader knows only "
                    f"version {BINARY_VERSION}"
                )
            spec = _string(f)
            (revision,) = _unpack(f, "I")
            tensors = {}
            for _ in range(_unpack(f, "I")[0]):
                name = _string(f)
                (rank,) = _unpack(f, "B")
                shape = _unpack(f, "I" * rank)
                (type_id,) = _unpack(f, "B")
                (nbytes,) = _unpack(f, "I")
                if type_id >= len(_DTYPES):
                    raise Ct2FormatError(f"{path}: {name} has unknown dtype code {type_id}")
                tensors[name] = TensorEntry(shape, _DTYPES[type_id], f.tell(), nbytes)
                f.seek(nbytes, os.SEEK_CUR)
            aliases = {}
            for _ in range(_unpack(f, "I")[0]):
                alias = _string(f)
                aliases[alias] = _string(f)
        return cls(path, version, spec, revision, tensors, aliases)

    def __contains__(self, name: str) -> bool:
        return name in self.tensors or name in self.aliases

    def raw(self, name: str) -> Array:
        """One tensor as stored (bfloat16 widened to float32: numpy has no bfloat16)."""
        entry = self.tensors[self.aliases.get(name, name)]
        stored = np.dtype("<u2" if entry.dtype == "bfloat16" else entry.dtype).newbyteorder("<")
        array = np.empty(entry.nbytes // stored.itemsize, stored)  # writable, as torch wants
        with self.path.open("rb") as f:
            f.seek(entry.offset)
            if f.readinto(array.view(np.uint8).data) != entry.nbytes:
                raise Ct2FormatError(f"{self.path}: truncated in {name}")
        if entry.dtype == "bfloat16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array.reshape(entry.shape)

    def weight(self, name: str) -> Array:
        """A float tensor: float16/float32 as stored, a quantized one divided by its scale."""
        array = self.raw(name)
        if array.dtype.kind == "f":
            return array
        base = name.removesuffix("weight")
        if f"{base}weight_zero" in self:
            raise Ct2FormatError(f"{name}: zero-point (AWQ) quantization is not supported")
        scale = self.raw(f"{base}weight_scale").astype(np.float32)
        scale = scale.reshape(scale.shape + (1,) * (array.ndim - scale.ndim))
        return array.astype(np.float32) / scale

    def scalar(self, name: str) -> int:
        return int(self.raw(name).item())

    def layers(self, stack: str) -> int:
        """How many layers the encoder or decoder has."""
        found = {int(m[2]) for n in self.tensors if (m := _LAYER.match(n)) and m[1] == stack}
        return len(found)


def _unpack(f: BinaryIO, fmt: str) -> tuple[int, ...]:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise Ct2FormatError(f"{f.name}: truncated")
    return struct.unpack("<" + fmt, data)


def _string(f: BinaryIO) -> str:
    (length,) = _unpack(f, "H")  # includes the trailing NUL
    return f.read(length).rstrip(b"\0").decode("utf-8")


# --- the mapping ----------------------------------------------------------------------------


def whisper_dims(model: Ct2Model) -> dict[str, int]:
    """openai-whisper's ModelDimensions, read off the tensors."""
    if model.spec != SPEC:
        raise Ct2FormatError(f"{model.path}: a {model.spec}, not a Whisper model")
    audio = model.tensors["encoder/position_encodings/encodings"].shape
    text = model.tensors["decoder/position_encodings/encodings"].shape
    return {
        "n_mels": model.tensors["encoder/conv1/weight"].shape[1],
        "n_audio_ctx": audio[0],
        "n_audio_state": audio[1],
        "n_audio_head": model.scalar("encoder/num_heads"),
        "n_audio_layer": model.layers("encoder"),
        "n_vocab": model.tensors["decoder/embeddings/weight"].shape[0],
        "n_text_ctx": text[0],
        "n_text_state": text[1],
        "n_text_head": model.scalar("decoder/num_heads"),
        "n_text_layer": model.layers("decoder"),
    }


Step = Callable[[], dict[str, Array]]


def _plan(model: Ct2Model, dims: dict[str, int]) -> list[Step]:
    """The conversion as steps, each reading one CTranslate2 tensor group and giving the
    openai-whisper tensors made from it (so progress can be reported per step)."""

    def linear(dst: str | tuple[str, ...], src: str) -> Step:
        """A Linear, or several: a fused matrix is split in equal parts along its rows."""
        names = (dst,) if isinstance(dst, str) else dst

        def step() -> dict[str, Array]:
            weights = np.split(model.weight(f"{src}/weight"), len(names))
            biases = np.split(model.raw(f"{src}/bias"), len(names))
            out = {}
            for name, w, b in zip(names, weights, biases, strict=True):
                out[f"{name}.weight"] = w.copy()  # own storage, not a view of the fused one
                if not name.endswith(".key"):  # no key bias in openai-whisper (see above)
                    out[f"{name}.bias"] = b.copy()
            return out

        return step

    def tensor(dst: str, src: str) -> Step:
        return lambda: {dst: model.weight(src)}

    def norm(dst: str, src: str) -> Step:
        def step() -> dict[str, Array]:
            return {
                f"{dst}.weight": model.raw(f"{src}/gamma"),
                f"{dst}.bias": model.raw(f"{src}/beta"),
            }

        return step

    def block(dst: str, src: str, cross: bool) -> list[Step]:
        steps = [
            linear((f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"),
                   f"{src}/self_attention/linear_0"),
            linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1"),
            norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm"),
            linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0"),
            linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1"),
            norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm"),
        ]  # fmt: skip
        if cross:
            steps += [
                linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0"),
                linear((f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"),
                       f"{src}/attention/linear_1"),
                linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2"),
                norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm"),
            ]  # fmt: skip
        return steps

    steps = [
        linear("encoder.conv1", "encoder/conv1"),
        linear("encoder.conv2", "encoder/conv2"),
        tensor("encoder.positional_embedding", "encoder/position_encodings/encodings"),
        norm("encoder.ln_post", "encoder/layer_norm"),
        tensor("decoder.token_embedding.weight", "decoder/embeddings/weight"),
        tensor("decoder.positional_embedding", "decoder/position_encodings/encodings"),
        norm("decoder.ln", "decoder/layer_norm"),
    ]
    for i in range(dims["n_audio_layer"]):
        steps += block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    for i in range(dims["n_text_layer"]):
        steps += block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    return steps


def _check_tied_projection(model: Ct2Model) -> None:
    """openai-whisper computes logits with the token embedding: the CTranslate2 projection must
    be the same matrix, without a bias."""
    projection, embedding = "decoder/projection/weight", "decoder/embeddings/weight"
    tied = model.aliases.get(projection) == embedding or (
        projection in model.tensors
        and np.array_equal(model.weight(projection), model.weight(embedding))
    )
    if not tied or "decoder/projection/bias" in model:
        raise Ct2FormatError(
            f"{model.path}: the output projection is not the token embedding; openai-whisper "
            "cannot represent this model"
        )


# --- the checkpoint ---------------------------------------------------------------------------


def convert_ct2_to_openai(ct2_dir: Path, out_path: Path, progress: Progress | None = None) -> Path:
    """Write `out_path`, a checkpoint `whisper.load_model(str(out_path))` loads.

    float16 tensors stay float16 (exact, and half the size: openai's own checkpoints are float16);
    quantized ones become float32. The checkpoint is loaded into openai-whisper's model before it
    is written, so a mapping error fails here rather than at every start; the file appears under
    its name only when complete.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    model = Ct2Model.read(ct2_dir / "model.bin")
    dims = whisper_dims(model)
    _check_tied_projection(model)
    steps = _plan(model, dims)
    arrays: dict[str, Array] = {}
    for done, step in enumerate(steps, start=1):
        arrays.update(step())
        if progress is not None:
            progress(done, len(steps))
    state = {name: torch.from_numpy(array) for name, array in arrays.items()}
    Whisper(ModelDimensions(**dims)).load_state_dict(state, strict=True)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            torch.save({"dims": dims, "model_state_dict": state}, out)
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)  # mkstemp makes it private; the cache holds plain shared model files
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def checkpoint_path(name: str, cache_dir: Path) -> Path:
    """Where the converted checkpoint of a packaged model lives (whether or not it exists)."""
    if name not in WHISPER_CT2:
        raise ValueError(f"unknown model {name!r}: packaged models are {', '.join(WHISPER_CT2)}")
    return cache_dir / CHECKPOINT_DIR / f"{name}.pt"


def openai_checkpoint(name: str, cache_dir: Path, progress: Progress | None = None) -> Path:
    """The openai-whisper checkpoint of a packaged model, converted on first use (Whisper base
    is assembled from its parts first). `progress` follows the conversion."""
    path = checkpoint_path(name, cache_dir)
    if path.is_file():  # written atomically: present means complete
        return path
    return convert_ct2_to_openai(WHISPER_CT2[name](cache_dir), path, progress)
