"""The arithmetic of the speech benchmarks (benchmarks/asr.py, audio_set.py, voice_peer.py): text
normalisation, word error counts, summaries, where speech ends, and the Pipecat peer's timeline
set beside ours. No model is loaded."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.audio.wav import Audio
from benchmarks.asr import Errors, align, normalize, word_errors
from benchmarks.audio_set import Conversation, last_voiced_s, summary, vm_hwm_mib
from benchmarks.voice_peer import (
    PEER_KEYS,
    PeerTurn,
    Trace,
    last_before,
    our_splits,
    peer_summary,
    request_of,
    side_by_side,
    turn_rows,
)


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


# --- the Pipecat peer (benchmarks/voice_peer.py: its arithmetic imports no Pipecat) -------------


def _talk(ends_s: list[float]) -> Conversation:
    texts = [f"request {i}" for i in range(len(ends_s))]
    return Conversation(Audio(np.zeros(16_000, np.int16)), texts, ["piper-joe-1.0"] * len(texts),
                        ends_s)  # fmt: skip


def test_a_peer_turn_answers_the_last_request_that_ended_before_it() -> None:
    ends = [1.5, 6.0, 11.0]
    assert request_of(ends, 2.3) == 0
    assert request_of(ends, 6.0) == 1
    assert request_of(ends, 14.0) == 2  # late (a silence fallback): still the last request
    assert request_of(ends, 1.0) is None  # a turn before any request ended
    assert last_before([1.0, 2.0, 3.0], 2.5) == 2.0
    assert last_before([3.0], 2.5) is None


def test_peer_rows_are_measured_from_the_requests_last_voiced_sample() -> None:
    start = 100.0  # where the recording's 0 s is on the monotonic clock
    trace = Trace(
        stream_start=start,
        vad_stops=[start + 1.7, start + 6.25],
        transcripts=[(start + 2.1, "request zero"), (start + 6.9, "request one")],
        turns=[
            PeerTurn(endpoint=start + 2.2, heard="request zero", first_piece=start + 2.25,
                     first_audio=start + 2.5, reply="ok"),
            PeerTurn(endpoint=start + 7.0, heard="request one", first_piece=start + 7.1),
        ],
    )  # fmt: skip
    first, second = turn_rows(trace, _talk([1.5, 6.0]))
    assert (first["turn"], first["request"], first["heard"]) == (1, "request 0", "request zero")
    assert first["from_true_end_ms"] == pytest.approx(1000.0)
    assert first["to_vad_stop_ms"] == pytest.approx(200.0)
    assert first["to_transcript_ms"] == pytest.approx(600.0)
    assert first["to_endpoint_ms"] == pytest.approx(700.0)
    assert first["endpoint_to_first_audio_ms"] == pytest.approx(300.0)
    assert first["reply_text_ms"] == pytest.approx(50.0)
    assert first["tts_first_audio_ms"] == pytest.approx(250.0)
    # No audio yet: what cannot be known is None, and the summary leaves it out.
    assert second["request"] == "request 1"
    assert second["to_vad_stop_ms"] == pytest.approx(250.0)
    assert second["from_true_end_ms"] is None and second["tts_first_audio_ms"] is None
    stats = peer_summary([first, second])
    assert stats["turns"] == 2
    assert stats["from_true_end_ms"]["n"] == 1 and stats["to_endpoint_ms"]["n"] == 2


def test_a_peer_conversation_ends_when_its_last_request_is_answered_or_all_is_quiet() -> None:
    start, ends = 100.0, [1.5, 6.0]
    answered = PeerTurn(endpoint=start + 2.2, heard="request zero", first_audio=start + 2.6)
    waiting = PeerTurn(endpoint=start + 7.0, heard="request one")  # no audio yet
    trace = Trace(stream_start=start, turns=[answered, waiting])
    ended = start + 9.5  # the recording's last block
    assert not trace.finished(ends, ended, now=ended + 10, quiet_s=4)  # a reply is pending
    waiting.first_audio = start + 7.8
    assert trace.finished(ends, ended, now=ended, quiet_s=4)  # the last request is answered
    # The last request has no turn yet: wait, until nothing came for quiet_s.
    early = Trace(stream_start=start, turns=[answered])
    assert not early.finished(ends, ended, now=ended + 1, quiet_s=4)
    assert early.finished(ends, ended, now=ended + 4.5, quiet_s=4)
    # A turn that heard nothing has nothing to say: it does not hold the conversation open.
    silent = Trace(stream_start=start, turns=[answered, PeerTurn(endpoint=start + 7.0, heard="")])
    assert silent.finished(ends, ended, now=ended, quiet_s=4)


def test_our_rows_are_cut_where_the_peers_are() -> None:
    row = {"from_true_end_ms": 1300.0, "first_audio_ms": 650.0}
    row["transcript_to_first_audio_ms"] = 300.0
    assert our_splits(row) == {
        "from_true_end_ms": 1300.0,
        "to_vad_stop_ms": 650.0,  # the VAD's endpoint, from the last voiced sample
        "to_transcript_ms": 1000.0,
        "transcript_to_first_audio_ms": 300.0,
    }
    assert our_splits({"from_true_end_ms": None})["to_transcript_ms"] is None


def test_both_sides_are_tabled_and_differences_in_hearing_listed() -> None:
    ours = [
        {"conversation": 0, "request": "Set a timer for ten minutes.",
         "heard": "set a timer for 10 minutes", "from_true_end_ms": 1200.0,
         "first_audio_ms": 600.0, "transcript_to_first_audio_ms": 250.0},
        {"conversation": 0, "request": "What time is it?", "heard": "What time is it?",
         "from_true_end_ms": 1000.0, "first_audio_ms": 500.0,
         "transcript_to_first_audio_ms": 200.0},
    ]  # fmt: skip
    peer = [
        {"conversation": 0, "request": "Set a timer for ten minutes.",
         "heard": "Set a timer for ten minutes.", **dict.fromkeys(PEER_KEYS, 900.0)},
        {"conversation": 0, "request": "What time is it?", "heard": "What time",
         **dict.fromkeys(PEER_KEYS, 800.0)},
        {"conversation": 0, "request": "What time is it?", "heard": "is it",
         **dict.fromkeys(PEER_KEYS, 700.0)},
    ]  # fmt: skip
    compared = side_by_side(ours, peer)
    voice_to_voice = compared["table"][0]
    assert voice_to_voice["ours"]["p50"] == 1100.0 and voice_to_voice["ours"]["n"] == 2
    assert voice_to_voice["pipecat"]["p50"] == 800.0 and voice_to_voice["pipecat"]["n"] == 3
    # Spelling of numbers and case are not differences; one request heard as two turns is.
    assert compared["heard_differently"] == [
        {"conversation": 0, "request": "What time is it?", "ours": ["What time is it?"],
         "pipecat": ["What time", "is it"]},
    ]  # fmt: skip
