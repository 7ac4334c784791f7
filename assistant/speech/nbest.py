"""The N best transcripts of one utterance from Whisper's beam, decoded as faster-whisper decodes
it: its feature extractor, tokenizer, prompt and generation options, so that the first of them is
the transcript `WhisperModel.transcribe` gives (`without_timestamps`, no conditioning, no VAD).

faster-whisper's `transcribe` keeps only the best path of the beam; a language model of what the
assistant understands (`assistant.speech.rescore`) can only choose among several. Where
`transcribe` would do more than one beam search (audio longer than one 30 s window, or the
temperature fallback for a doubtful result: a low average log-probability or a repetitive text),
`beam_hypotheses` returns None and the caller transcribes as before.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# faster-whisper's defaults for `transcribe`, which the engine keeps.
LOG_PROB_THRESHOLD = -1.0  # below it, transcribe falls back to sampling
COMPRESSION_RATIO_THRESHOLD = 2.4  # above it (a repetitive text), too
MAX_INITIAL_TIMESTAMP_S = 1.0


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One path of the beam: its text and faster-whisper's `avg_logprob` (cumulative token
    log-probability over tokens + 1), the acoustic score and confidence of the transcript."""

    text: str
    avg_logprob: float


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))


def beam_hypotheses(
    model: Any,
    samples: npt.NDArray[np.float32],
    *,
    language: str,
    beam_size: int,
    num_hypotheses: int,
    prompt: str | None,
) -> list[Hypothesis] | None:
    """Up to `num_hypotheses` paths of the beam, best first (its first is `transcribe`'s text),
    for a `faster_whisper.WhisperModel`; None where `transcribe` would not search just once."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens, pad_or_trim

    features = model.feature_extractor(samples)
    content_frames = features.shape[-1] - 1
    if content_frames > model.feature_extractor.nb_max_frames:
        return None  # more than one window: transcribe's seek loop
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    previous = tokenizer.encode(" " + prompt.strip()) if prompt and prompt.strip() else []
    tokens = model.get_prompt(tokenizer, previous, without_timestamps=True)
    encoded = model.encode(pad_or_trim(features[:, :content_frames]))
    result = model.model.generate(
        encoded,
        [tokens],
        length_penalty=1,
        repetition_penalty=1,
        no_repeat_ngram_size=0,
        max_length=model.max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        max_initial_timestamp_index=round(MAX_INITIAL_TIMESTAMP_S / model.time_precision),
        beam_size=beam_size,
        patience=1,
        num_hypotheses=num_hypotheses,
    )[0]
    texts = [tokenizer.decode(ids).strip() for ids in result.sequences_ids]
    # CTranslate2's score is the cumulative log-probability over len(ids) (length_penalty 1).
    hypotheses = [
        Hypothesis(" ".join(text.split()), score * len(ids) / (len(ids) + 1))
        for text, ids, score in zip(texts, result.sequences_ids, result.scores, strict=True)
    ]
    if (
        not hypotheses
        or hypotheses[0].avg_logprob < LOG_PROB_THRESHOLD
        or compression_ratio(texts[0]) > COMPRESSION_RATIO_THRESHOLD
    ):
        return None  # transcribe would sample again at a higher temperature, or skip silence
    return hypotheses
