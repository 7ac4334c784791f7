"""Word probabilities against the mean token log-probability, as the signal that asks "did you
say ...?" (issue 15 item 3): which separates wrong transcripts of calculations and timers from
right ones better, on the tuning part of `benchmarks.asr`.

Run from the project root:
  python -m benchmarks.asr_word_confidence [--part tuning] [--output PATH]

Every clip is decoded by the default engine (tiny.en, primed and padded as the voice pipeline
does); `confidence` is what the engine reports (exp of the mean token log-probability).
A word's probability is the mean probability of its tokens in one more, teacher-forced pass of
Whisper's decoder over the transcript with the same prompt (CTranslate2's `align`, as
faster-whisper's word timestamps compute it, but primed: unprimed, "9" after "12 times" is
unlikely only because the prompt is missing); `min_word` is the least likely word. Clips are
judged wrong or right by meaning as in `benchmarks.asr_confirm`; the table counts, per signal
and threshold, the wrong ones asked and the right ones asked.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from assistant.audio.wav import SAMPLE_RATE, Audio, resample
from assistant.core.paths import default_cache_dir
from assistant.speech.asr_ct2 import FasterWhisperEngine
from assistant.speech.whisper import padded
from assistant.stages.asr.vocabulary import skills_prompt
from assistant.weights import WHISPER_CT2
from benchmarks.asr import HELD_OUT, TUNING, clips_of
from benchmarks.asr_confirm import judged, table

OUTPUT = Path(__file__).resolve().parent / "results" / "asr_word_confidence.json"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)


def word_probabilities(engine: FasterWhisperEngine, audio: Audio, text: str) -> list[float]:
    """Each word's mean token probability given the audio and the engine's prompt."""
    from faster_whisper.tokenizer import Tokenizer

    model = engine._model  # faster-whisper's WhisperModel
    tokenizer = Tokenizer(model.hf_tokenizer, False, task="transcribe", language="en")
    tokens = tokenizer.encode(" " + text.strip())
    if not tokens:
        return []
    samples = resample(audio.samples.astype(np.float32) / 32768.0, audio.sample_rate, SAMPLE_RATE)
    samples = padded(samples, engine.pad_s)
    features = model.feature_extractor(samples)
    frames = features.shape[-1]
    encoded = model.encode(np.pad(features, ((0, 0), (0, max(0, 3000 - frames))))[:, :3000])
    prompt = tokenizer.encode(" " + engine.prompt.strip()) if engine.prompt else []
    start = [*([tokenizer.sot_prev, *prompt[-223:]] if prompt else []), *tokenizer.sot_sequence]
    start.append(tokenizer.no_timestamps)
    probs = model.model.align(encoded, start, [tokens], [frames])[0].text_token_probs
    _, word_tokens = tokenizer.split_to_word_tokens([*tokens, tokenizer.eot])
    bounds = np.cumsum([0, *(len(t) for t in word_tokens[:-1])])
    return [float(np.mean(probs[i:j])) for i, j in itertools.pairwise(bounds)]


def clip_rows(part: str) -> list[dict[str, Any]]:
    engine = FasterWhisperEngine(
        WHISPER_CT2["tiny.en"](default_cache_dir()), prompt=skills_prompt((), 60)
    )
    rows = []
    for clip in clips_of([part], quick=False):
        heard = engine.recognize(clip.audio)
        words = word_probabilities(engine, clip.audio, heard.text) if heard.text else []
        rows.append(
            {
                "voice": clip.voice, "reference": clip.text, "hypothesis": heard.text,
                "confidence": round(heard.confidence, 4),
                "min_word": round(min(words), 4) if words else 0.0,
                "word_probs": [round(p, 3) for p in words],
            }
        )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.asr_word_confidence", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--part", default=TUNING, choices=(TUNING, HELD_OUT))
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    clips = judged(clip_rows(args.part))
    tables = {
        signal: table([{**c, "confidence": c[signal]} for c in clips], list(THRESHOLDS))
        for signal in ("confidence", "min_word")
    }
    print("| signal | threshold | wrong asked | right asked |\n|---|---|---|---|")
    for signal, rows in tables.items():
        for row in rows:
            print(
                f"| {signal} | {row['threshold']} | {row['wrong_asked']} / {row['wrong']} | "
                f"{row['right_asked']} / {row['right']} |"
            )
    written = json.loads(args.output.read_text()) if args.output.exists() else {}
    written[args.part] = {"tables": tables, "clips": clips}
    args.output.write_text(json.dumps(written, indent=1) + "\n")


if __name__ == "__main__":
    main()
