"""Smart Turn v3 on real Piper speech: its features against transformers' Whisper feature
extractor, its verdicts on finished and unfinished requests, the endpointer that asks it at each
pause, and speculative transcription in the real asr stage."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from assistant.audio.wav import Audio, frames
from assistant.core.errors import MissingModelError
from assistant.core.stage import StageContext
from assistant.messages import Interrupt, Message, Transcript, UtteranceAudio, UtteranceDraft
from assistant.speech import turn
from assistant.speech.turn import SmartTurn, fit_window, log_mel
from assistant.speech.turn_endpoint import (
    Draft,
    Rejoin,
    SmartTurnEndpointer,
    TurnRules,
    Verdict,
)
from assistant.speech.vad import EndpointRules, Utterance, load_silero
from assistant.stages.asr.whisper_ct2 import FasterWhisperASR, FasterWhisperParams
from assistant.stages.vad.smart_turn import SmartTurnParams
from tests.speech import conversation, speak

RATE = 16_000
# Smart Turn v3.2 hears Piper's "set a timer for" said alone as finished (p > 0.9: Piper ends
# every text on a falling, sentence-final tone, and even cut out of the fluent sentence at the
# end of "for" it scores 0.74); a spoken filler is the hesitation it recognizes.
HESITATION = ("set a timer, um, for", 0.7, "ten minutes")


@pytest.fixture(scope="module")
def model() -> SmartTurn:
    return SmartTurn()


def test_features_match_transformers_whisper_feature_extractor() -> None:
    from transformers import WhisperFeatureExtractor

    samples = conversation(0.3, "set a timer for ten minutes", 0.2).samples / 32768.0
    window = fit_window(samples.astype(np.float32))
    reference = WhisperFeatureExtractor(chunk_length=8)(
        window, sampling_rate=RATE, padding="max_length", max_length=8 * RATE,
        truncation=True, do_normalize=True, return_tensors="np",
    ).input_features[0]  # fmt: skip
    ours = log_mel(window)
    assert ours.shape == reference.shape == (80, 800)
    assert np.abs(ours - reference).max() < 1e-4


def test_the_window_is_the_last_8_s_zero_padded_in_front() -> None:
    short = np.ones(RATE, np.float32)
    padded = fit_window(short)
    assert len(padded) == 8 * RATE and padded[: 7 * RATE].max() == 0 and padded[-1] == 1
    long = np.arange(10 * RATE, dtype=np.float32)
    assert fit_window(long)[0] == 2 * RATE and fit_window(long)[-1] == long[-1]


@pytest.mark.parametrize("text", ["set a timer for ten minutes", "what time is it"])
def test_a_finished_request_is_complete(model: SmartTurn, text: str) -> None:
    verdict = model.predict(conversation(0.3, text, 0.2).samples)
    assert verdict.complete, verdict


@pytest.mark.parametrize("text", ["set a timer, um, for", "what is the weather in"])
def test_a_request_cut_short_is_incomplete(model: SmartTurn, text: str) -> None:
    verdict = model.predict(conversation(0.3, text, 0.2).samples)
    assert not verdict.complete, verdict


def test_int16_and_float_audio_give_the_same_probability(model: SmartTurn) -> None:
    pcm = conversation(0.3, "what time is it", 0.2).samples
    assert model.probability(pcm) == pytest.approx(model.probability(pcm / 32768.0), abs=1e-4)


def test_a_missing_pipecat_package_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingModelError, match=r"pip install --no-deps pipecat-ai"):
        turn.model_path()


# --- the endpointer ------------------------------------------------------------------------------


def endpoint(model: SmartTurn, audio: Audio) -> list[object]:
    endpointer = SmartTurnEndpointer(load_silero(), model, EndpointRules(), TurnRules())
    events: list[object] = []
    for block in frames(audio):
        events += endpointer.events(block)
    return events + endpointer.finish()


def test_a_hesitation_is_one_utterance_with_both_parts(model: SmartTurn) -> None:
    audio = conversation(0.5, *HESITATION, 1.0)
    events = endpoint(model, audio)
    utterances = [e for e in events if isinstance(e, Utterance)]
    verdicts = [e for e in events if isinstance(e, Verdict)]
    drafts = [e.utterance for e in events if isinstance(e, Draft)]
    assert len(utterances) == 1, verdicts
    assert [v.complete for v in verdicts][-1:] == [True] and not any(
        v.complete for v in verdicts[:-1]
    )
    spoken = speak(HESITATION[0]).duration + 0.7 + speak(HESITATION[2]).duration
    assert utterances[0].end_s - utterances[0].start_s > spoken  # the pause is inside
    # The earlier pauses' drafts were not the turn; the last one is exactly the final audio.
    assert len(drafts) == len(verdicts) >= 2
    assert drafts[-1] == utterances[0] and utterances[0] not in drafts[:-1]


def test_two_requests_after_a_clear_pause_are_two_utterances(model: SmartTurn) -> None:
    audio = conversation(0.5, "what time is it", 1.0, "set a timer for ten minutes", 1.0)
    events = endpoint(model, audio)
    utterances = [e for e in events if isinstance(e, Utterance)]
    assert len(utterances) == 2
    assert all(isinstance(v, Verdict) and v.complete for v in events if isinstance(v, Verdict))


def test_speech_that_resumes_at_the_cut_continues_the_ended_utterance(model: SmartTurn) -> None:
    # Piper pauses ~250 ms at the comma: Smart Turn hears "Hello." as finished, and it is cut.
    audio = conversation(0.5, "Hello, how are you doing today?", 1.0)
    events = endpoint(model, audio)
    utterances = [e for e in events if isinstance(e, Utterance)]
    rejoins = [e for e in events if isinstance(e, Rejoin)]
    assert len(utterances) == 2 and [r.previous for r in rejoins] == [utterances[0]]
    first, whole = utterances
    assert whole.start_s == first.start_s and whole.pcm.startswith(first.pcm)
    assert whole.end_s - whole.start_s == pytest.approx(len(whole.pcm) / 2 / RATE)
    # The draft of the whole request carried the first part too, so speculation still hits.
    assert [e.utterance for e in events if isinstance(e, Draft)][-1] == whole


def test_without_rejoin_the_continuation_is_an_utterance_of_its_own(model: SmartTurn) -> None:
    audio = conversation(0.5, "Hello, how are you doing today?", 1.0)
    rules = TurnRules(rejoin=False)
    endpointer = SmartTurnEndpointer(load_silero(), model, EndpointRules(), rules)
    events = [e for block in frames(audio) for e in endpointer.events(block)]
    utterances = [e for e in events if isinstance(e, Utterance)]
    assert len(utterances) == 2 and not any(isinstance(e, Rejoin) for e in events)
    assert utterances[1].start_s == utterances[0].end_s  # contiguous, yet not joined


def test_the_fallback_silence_ends_a_turn_smart_turn_keeps_open(model: SmartTurn) -> None:
    audio = conversation(0.5, "what is the weather in", 3.5)
    endpointer = SmartTurnEndpointer(load_silero(), model, EndpointRules(), TurnRules())
    ended_at: list[float] = []
    position = 0
    for block in frames(audio):
        position += len(block) // 2
        for event in endpointer.events(block):
            if isinstance(event, Utterance):
                ended_at.append(position / RATE - event.speech_end_s)
    assert len(ended_at) == 1 and 2.9 <= ended_at[0] <= 3.2  # after fallback_ms, not at once


def test_the_draft_goes_out_before_the_verdict_once_the_end_pad_is_there(
    model: SmartTurn,
) -> None:
    audio = conversation(0.5, "what time is it", 1.0)
    endpointer = SmartTurnEndpointer(
        load_silero(), model, EndpointRules(end_pad_ms=100), TurnRules(pause_ms=200)
    )
    seen: list[tuple[float, object]] = []  # (stream position, event)
    position = 0
    for block in frames(audio):
        position += len(block) // 2
        seen += [(position / RATE, e) for e in endpointer.events(block)]
    (draft_at, draft), (verdict_at, _) = (
        (at, e) for at, e in seen if isinstance(e, Draft | Verdict)
    )
    (final,) = (e for _, e in seen if isinstance(e, Utterance))
    assert isinstance(draft, Draft) and draft.utterance == final
    assert verdict_at - draft_at >= 0.09  # ASR may start ~100 ms before the verdict
    assert final.end_s == pytest.approx(final.speech_end_s + 0.1)


def test_the_fallback_must_outlast_the_pause() -> None:
    with pytest.raises(ValueError, match="fallback_ms"):
        SmartTurnParams(min_silence_ms=500, fallback_ms=400)


# --- speculative transcription in the real asr stage --------------------------------------------


class RunningASR:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        params = FasterWhisperParams()
        self.stage = FasterWhisperASR(name="asr", params=params, context=StageContext())
        self.loop.run_until_complete(self.stage.start())

    def process(self, message: Message) -> list[Message]:
        async def collect(outputs: AsyncIterator[Message]) -> list[Message]:
            return [m async for m in outputs]

        return self.loop.run_until_complete(collect(self.stage.process(message)))

    def control(self, message: Message) -> None:
        self.loop.run_until_complete(self.stage.control(message))


@pytest.fixture(scope="module")
def asr() -> Iterator[RunningASR]:
    running = RunningASR()
    yield running
    running.loop.run_until_complete(running.stage.stop())
    running.loop.close()


def draft_and_final(
    text: str, session: str, turn_id: int = 1
) -> tuple[UtteranceDraft, UtteranceAudio]:
    pcm = speak(text).samples.tobytes()
    draft = UtteranceDraft(session_id=session, turn_id=turn_id, pcm=pcm)
    return draft, UtteranceAudio(session_id=session, turn_id=turn_id, pcm=pcm)


def test_a_draft_alone_publishes_nothing_and_its_final_audio_reuses_it(asr: RunningASR) -> None:
    draft, final = draft_and_final("what time is it", "spec-hit")
    hits = asr.stage.speculation.hits
    assert asr.process(draft) == []
    (transcript,) = asr.process(final)
    assert isinstance(transcript, Transcript) and "time" in transcript.text.lower()
    assert asr.stage.speculation.hits == hits + 1


def test_a_draft_of_other_audio_is_never_used(asr: RunningASR) -> None:
    draft, _ = draft_and_final("set a timer, um, for", "spec-miss")
    _, final = draft_and_final("what time is it", "spec-miss")
    misses = asr.stage.speculation.misses
    assert asr.process(draft) == []
    (transcript,) = asr.process(final)
    assert isinstance(transcript, Transcript) and "time" in transcript.text.lower()
    assert asr.stage.speculation.misses == misses + 1


def test_sessions_keep_their_own_draft_and_an_interrupt_drops_it(asr: RunningASR) -> None:
    draft_a, final_a = draft_and_final("what time is it", "spec-a")
    draft_b, final_b = draft_and_final("tell me a joke", "spec-b")
    asr.process(draft_a)
    asr.process(draft_b)
    asr.control(Interrupt(session_id="spec-b", turn_id=1))
    hits, misses = asr.stage.speculation.hits, asr.stage.speculation.misses
    (heard_b,) = asr.process(final_b)  # transcribed afresh: its draft was dropped
    (heard_a,) = asr.process(final_a)  # session a's draft is still good
    assert "joke" in heard_b.text.lower() and "time" in heard_a.text.lower()  # type: ignore[attr-defined]
    assert (asr.stage.speculation.hits, asr.stage.speculation.misses) == (hits + 1, misses)
