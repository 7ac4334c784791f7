"""Endpointing by meaning: Silero finds the pauses, Smart Turn decides which end the turn.

`SmartTurnEndpointer` is a `SileroEndpointer` whose silence rule is only the fallback
(`fallback_ms`, a few seconds). After a short pause (`pause_ms`) it asks Smart Turn whether the
speaker has finished: if so the utterance ends there; if not it keeps listening, and speech that
resumes continues the same utterance (both parts and the pause between them are one audio).
Every pause long enough to judge is judged once, on the whole utterance so far.

A "complete" verdict can be wrong ("Hello, [pause] how are you?"). When speech resumes exactly
where the ended utterance was cut (the pause was shorter than `end_pad_ms` + `speech_pad_ms`,
so no audio lies between), a `Rejoin` says so and the new utterance carries the ended one's
audio in front: the caller withdraws the turn it ended, and the whole request is heard as one.

Before each judgement, as soon as the audio kept after the speech (`end_pad_ms`) is there, a
`Draft` is yielded: the utterance exactly as it would end at this pause. A caller may start
transcribing it at once (speculative ASR): if the turn then ends at this pause, without new
speech, its final `Utterance` carries the same audio and the transcript is already made or under
way; if the speaker goes on, the draft is simply never used.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.speech.turn import SmartTurn
from assistant.speech.vad import (
    SAMPLE_RATE,
    EndpointRules,
    SileroEndpointer,
    SpeechStart,
    Utterance,
    utterance_of,
)
from assistant.speech.vad import Event as VADEvent


@dataclass(frozen=True, slots=True)
class TurnRules:
    pause_ms: int = 200  # silence after which Smart Turn judges whether the turn is over
    fallback_ms: int = 3000  # silence that ends the turn whatever Smart Turn said
    speculate: bool = True  # yield a `Draft` at each pause, before its judgement
    rejoin: bool = True  # speech that resumes where a judged-complete utterance was cut joins it


@dataclass(frozen=True, slots=True)
class Draft:
    """The utterance as it would end at this pause: worth transcribing before it is final."""

    utterance: Utterance


@dataclass(frozen=True, slots=True)
class Verdict:
    """Smart Turn's judgement of the pause that began `at_s` into the stream."""

    at_s: float
    probability: float  # that the turn is complete
    complete: bool
    seconds: float  # inference time, features included


@dataclass(frozen=True, slots=True)
class Rejoin:
    """Speech resumed right where `previous` (ended by a "complete" verdict) was cut: within
    the padding after it and before the new speech, so no audio lies between them. The speaker
    had not finished: the new utterance carries `previous` in front, and the turn `previous`
    ended should be withdrawn."""

    previous: Utterance


Event = VADEvent | Draft | Verdict | Rejoin


class SmartTurnEndpointer(SileroEndpointer):
    """One audio stream endpointed by Silero's pauses and Smart Turn's verdicts. Blocking; the
    Silero session and the Smart Turn model may be shared by many streams."""

    def __init__(
        self,
        session: Any | None,
        turn: SmartTurn,
        rules: EndpointRules | None = None,
        turn_rules: TurnRules | None = None,
    ) -> None:
        self.turn = turn
        self.turn_rules = turn_rules or TurnRules()
        # The silence rule stays, as the fallback that ends a turn Smart Turn keeps open.
        rules = replace(rules or EndpointRules(), min_silence_ms=self.turn_rules.fallback_ms)
        self._pause = SAMPLE_RATE * self.turn_rules.pause_ms // 1000
        self._judged: int | None = None  # where the last judged pause began
        self._drafted: int | None = None  # where the last pause with a draft began
        self._last: tuple[Utterance, int] | None = None  # ended by a verdict, and its cut
        self._joined: Utterance | None = None  # what the current utterance carries in front
        super().__init__(session, rules)

    def _restart(self) -> None:
        super()._restart()
        self._judged = self._drafted = self._last = self._joined = None

    def events(self, pcm: bytes) -> Iterator[Event]:  # type: ignore[override]
        yield from super().events(pcm)

    def finish(self) -> list[Event]:  # type: ignore[override]
        joined = self._joined
        events = super().finish()  # restarts
        return [_prefixed(joined, e) if isinstance(e, Utterance) else e for e in events]

    def _step(self, chunk: npt.NDArray[np.int16]) -> Iterator[Event]:  # type: ignore[override]
        # The fallback silence and the length cut still apply.
        for event in super()._step(chunk):
            if isinstance(event, SpeechStart):
                yield from self._rejoin()
            elif isinstance(event, Utterance):
                event = _prefixed(self._joined, event)
                self._joined = self._last = None
            yield event
        yield from self._draft()
        yield from self._judge()

    def _draft(self) -> Iterator[Event]:
        """Once the audio after the speech (`end_pad_ms`) is all there, the utterance as it
        would end at this pause is final unless the speaker goes on: worth transcribing now,
        even before the pause is long enough to judge."""
        state = self._endpointer
        pause = state.silence_start
        if not self.turn_rules.speculate or pause is None or pause == self._drafted:
            return
        if state.position - pause < min(state.end_pad, self._pause):
            return
        span = state.pending()
        if span is not None:
            self._drafted = pause
            yield Draft(_prefixed(self._joined, utterance_of(span)))

    def _rejoin(self) -> Iterator[Event]:
        """New speech: a continuation of the last utterance if it starts at its cut."""
        last, self._last = self._last, None
        if last is None or not self.turn_rules.rejoin:
            return
        previous, cut = last
        if self._endpointer.utterance_start() == cut:
            self._joined = previous
            yield Rejoin(previous)

    def _judge(self) -> Iterator[Event]:
        """At a pause long enough, and not judged yet: Smart Turn's verdict, and the utterance
        if the verdict is "complete"."""
        state = self._endpointer
        pause = state.silence_start
        if state.speech_start is None or pause is None or pause == self._judged:
            return
        if state.position - pause < self._pause:
            return
        self._judged = pause
        span = state.pending()
        if span is None:  # too short to be speech: noise, dropped now rather than at fallback
            state.end_now()
            self._joined = None
            return
        started = time.perf_counter()
        audio = state.audio_so_far()
        if self._joined is not None:
            audio = np.concatenate([np.frombuffer(self._joined.pcm, "<i2"), audio])
        verdict = self.turn.predict(audio)
        yield Verdict(
            at_s=pause / SAMPLE_RATE,
            probability=verdict.probability,
            complete=verdict.complete,
            seconds=time.perf_counter() - started,
        )
        if verdict.complete:
            for ended in state.end_now():
                utterance = _prefixed(self._joined, utterance_of(ended))
                self._joined, self._last = None, (utterance, ended.end)
                yield utterance


def _prefixed(joined: Utterance | None, utterance: Utterance) -> Utterance:
    """`utterance` with the audio of the one it continues in front (they are contiguous)."""
    if joined is None:
        return utterance
    return replace(utterance, pcm=joined.pcm + utterance.pcm, start_s=joined.start_s)
