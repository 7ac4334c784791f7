"""Semantic end-of-turn detection with Smart Turn v3 (pipecat-ai's ONNX model, int8, CPU).

Silence alone cannot tell "set a timer for ... ten minutes" from two requests: Smart Turn hears
the words and the prosody of the last 8 s of a turn and says how likely it is that the speaker
has finished. The model file ships inside the `pipecat-ai` wheel; it is taken from the installed
package's files without importing pipecat (whose own dependencies are not installed here).

The input is what pipecat's `LocalSmartTurnAnalyzerV3` gives it: 16 kHz mono float audio, cut
to its last 8 s or zero-padded at the front to 8 s, normalized to zero mean and unit variance,
then Whisper's log-mel features (80 mels, 400-sample FFT, hop 160, 800 frames), as
`transformers.WhisperFeatureExtractor(chunk_length=8)` computes them. The output is the sigmoid
probability that the turn is complete.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.core.errors import MissingModelError

SAMPLE_RATE = 16_000
WINDOW_S = 8  # the model hears the last 8 s of a turn
PACKAGE = "pipecat-ai"
MODEL_FILE = Path("audio", "turn", "smart_turn", "data", "smart-turn-v3.2-cpu.onnx")
INSTALL = f"pip install --no-deps {PACKAGE}==1.14.0"  # only the file is used: no dependencies

N_FFT = 400
HOP = 160
N_MELS = 80


def model_path() -> Path:
    """The Smart Turn ONNX file inside the installed pipecat-ai package (never imported)."""
    try:
        spec = importlib.util.find_spec("pipecat")  # a top-level spec: nothing is executed
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    where = "is not installed" if not folders else f"has no {MODEL_FILE}"
    raise MissingModelError(
        f"the Smart Turn v3 model ships with {PACKAGE}, which {where}: {INSTALL}"
    )


# --- Whisper log-mel features, in numpy ---------------------------------------------------------


def _hz_to_mel(freq: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The Slaney mel scale (librosa's default, Whisper's): linear below 1 kHz, log above."""
    mels = 3.0 * freq / 200.0
    log_region = freq >= 1000.0
    mels[log_region] = 15.0 + np.log(freq[log_region] / 1000.0) * (27.0 / np.log(6.4))
    return mels


def _mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    freq = 200.0 * mels / 3.0
    log_region = mels >= 15.0
    freq[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mels[log_region] - 15.0))
    return freq


@cache
def mel_filters() -> npt.NDArray[np.float64]:
    """(N_FFT // 2 + 1, N_MELS) triangular filters from 0 to 8 kHz, Slaney area-normalized."""
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(np.array([SAMPLE_RATE / 2.0]))[0], N_MELS + 2))
    fft_freqs = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    slopes = edges[None, :] - fft_freqs[:, None]
    widths = np.diff(edges)
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    return filters * (2.0 / (edges[2:] - edges[:-2]))[None, :]


def fit_window(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The last 8 s, or zeros in front up to 8 s (the turn's end is what matters)."""
    size = WINDOW_S * SAMPLE_RATE
    if len(samples) >= size:
        return samples[-size:]
    return np.concatenate([np.zeros(size - len(samples), np.float32), samples])


def log_mel(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Whisper's normalized log-mel features of exactly 8 s of audio: (80, 800) float32."""
    x = samples.astype(np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)  # on the waveform, in float32, as Whisper's
    padded = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")  # centered frames
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as torch.hann_window
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = np.log10(np.maximum(power @ mel_filters(), 1e-10)).T[:, :-1]  # last frame dropped
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnVerdict:
    probability: float  # that the turn is complete
    complete: bool


class SmartTurn:
    """The loaded model. Blocking; one session may serve many streams (it keeps no state)."""

    def __init__(
        self, path: Path | None = None, *, threshold: float = 0.5, threads: int = 1
    ) -> None:
        self.path = path or model_path()
        self.threshold = threshold
        self._session = _session(self.path, threads)

    def probability(self, audio: npt.NDArray[Any]) -> float:
        """How likely the turn that ends with `audio` (16 kHz mono: int16 PCM samples or floats
        in [-1, 1]) is complete. Only its last 8 s are heard."""
        samples = np.asarray(audio)
        if samples.dtype == np.int16:
            samples = samples.astype(np.float32) / 32768.0
        features = log_mel(fit_window(samples.astype(np.float32, copy=False)))
        (output,) = self._session.run(None, {"input_features": features[None]})
        return float(np.asarray(output).reshape(-1)[0])

    def predict(self, audio: npt.NDArray[Any]) -> TurnVerdict:
        probability = self.probability(audio)
        return TurnVerdict(probability, probability > self.threshold)


def _session(path: Path, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingModelError(
            f"Smart Turn needs onnxruntime ({exc}): pip install onnxruntime"
        ) from exc
    options = ort.SessionOptions()
    # One short inference per pause: sequential, few threads, so ASR keeps its cores.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]
    if names != ["input_features"]:
        raise MissingModelError(
            f"{path} takes inputs {names}, not Smart Turn v3's input_features: {INSTALL}"
        )
    return session
