"""The arithmetic of the speech benchmarks (benchmarks/asr.py, audio_set.py): text normalisation,
word error counts, summaries and where speech ends. No model is loaded."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.audio.wav import Audio
from benchmarks.asr import Errors, align, normalize, word_errors
from benchmarks.audio_set import last_voiced_s, summary, vm_hwm_mib


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        ("set a timer for 10 minutes", "Set a timer for ten minutes."),
        ("What is 17 times 23?", "what is seventeen times twenty-three"),
        ("What's two hundred and fifty plus 75?", "What is 250 + 75?"),
        ("I'm cooking for six, aren't I?", "I am cooking for 6. Are not I?"),
        ("How many centimeters are in 3 inches?", "How many centimetres are in three inches"),
        ("Add 1,000 grams", "add one thousand grams"),
        ("one and a half hours", "1.5 hours"),
        ("What is 17 times 23?", "What is 17 x 23?"),
        ("What is 17 times 23?", "What is 17×23?"),
    ],
)
def test_spelling_numbers_case_and_punctuation_are_not_errors(
    reference: str, hypothesis: str
) -> None:
    assert word_errors(reference, hypothesis).errors == 0


def test_normalize_keeps_the_words_and_writes_numbers_as_digits() -> None:
    assert normalize("Set a timer for ten minutes, OK?") == [
        "set", "a", "timer", "for", "10", "minutes", "okay",
    ]  # fmt: skip
    assert normalize("Today's list: 5% off & 3.5 kg") == [
        "todays", "list", "5", "percent", "off", "and", "3.5", "kg",
    ]  # fmt: skip
    assert normalize("this one") == ["this", "one"]  # a pronoun, not a number
    assert normalize("") == []


def test_each_kind_of_error_is_counted() -> None:
    assert word_errors("add milk to my list", "add silk to my list") == Errors(1, 0, 0, 5)
    assert word_errors("add milk to my list", "add milk to list") == Errors(0, 1, 0, 5)
    assert word_errors("what time is it", "what time is it now") == Errors(0, 0, 1, 4)
    assert word_errors("what time is it", "") == Errors(0, 4, 0, 4)
    assert word_errors("", "hello") == Errors(0, 0, 1, 0)
    # Two words swapped: two substitutions rather than a deletion and an insertion.
    assert align(["a", "b", "c"], ["a", "c", "b"]) == Errors(2, 0, 0, 3)
    # A word split in two: one substitution and one insertion.
    assert align(["oatmilk", "please"], ["oat", "milk", "please"]) == Errors(1, 0, 1, 2)


def test_wer_is_errors_over_reference_words_summed_over_clips() -> None:
    first = word_errors("set a timer for ten minutes", "set a time for ten minutes")
    second = word_errors("cancel it", "cancel it")
    assert first.wer == pytest.approx(1 / 6)
    total = first + second
    assert total == Errors(1, 0, 0, 8)
    assert total.wer == pytest.approx(1 / 8)  # corpus WER, not the mean of 1/6 and 0
    assert Errors().wer == 0.0
    assert Errors(insertions=1).wer == float("inf")


def test_summary_reports_median_p95_and_max() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    stats = summary(values)
    assert stats["p50"] == pytest.approx(50.5)
    assert stats["p95"] == 95.0  # nearest rank, as benchmarks.stats computes it
    assert stats["max"] == 100.0
    assert stats["n"] == 100
    assert summary([7.0]) == {"p50": 7.0, "p95": 7.0, "max": 7.0, "n": 1}


def test_last_voiced_sample_ignores_trailing_silence_and_faint_noise() -> None:
    rate = 16_000
    tone = (8000 * np.sin(np.arange(rate) * 2 * np.pi * 220 / rate)).astype(np.int16)
    hiss = np.full(rate // 2, 20, dtype=np.int16)  # -52 dB below the tone: not speech
    audio = Audio(np.concatenate([np.zeros(rate // 4, np.int16), tone, hiss]), rate)
    assert last_voiced_s(audio) == pytest.approx(1.25, abs=0.011)
    assert last_voiced_s(Audio(np.zeros(rate, np.int16), rate)) == 0.0


def test_peak_memory_is_read_from_proc_status() -> None:
    status = "Name:\tassistant\nVmPeak:\t 2000000 kB\nVmHWM:\t  1048576 kB\nVmRSS:\t 900 kB\n"
    assert vm_hwm_mib(status) == 1024.0
    assert vm_hwm_mib("Name:\tzombie\nState:\tZ (zombie)\n") is None
