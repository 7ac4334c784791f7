"""The smart-turn vad backend: Silero finds the pauses, Smart Turn v3 decides which of them end
the turn (`assistant.speech.turn_endpoint`); the messages are the silero backend's, plus an
`UtteranceDraft` at each judged pause for speculative ASR, and an `Interrupt` (reason
"continued") that withdraws a turn whose utterance the speaker turned out to continue (the next
turn's utterance then carries its audio).

A pause of `pause_ms` is judged at once; a turn Smart Turn keeps open ends anyway after
`fallback_ms` of silence, and speech that resumes before that continues the same utterance.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import Field, model_validator

from assistant.core.errors import missing_package
from assistant.core.stage import StageContext, StageParams
from assistant.messages import (
    Interrupt,
    Message,
    SpeechStarted,
    TurnEnd,
    TurnStart,
    UtteranceAudio,
    UtteranceDraft,
)
from assistant.speech.turn import SmartTurn, model_path
from assistant.speech.turn_endpoint import (
    Draft,
    Rejoin,
    SmartTurnEndpointer,
    TurnRules,
    Verdict,
)
from assistant.stages.vad.silero import SileroParams, SileroVAD, _Session, utterance_message

log = logging.getLogger(__name__)


class SmartTurnParams(SileroParams):
    min_silence_ms: int = Field(
        200, ge=32, description="the pause after which Smart Turn judges whether the turn ended"
    )
    fallback_ms: int = Field(
        3000, ge=100, description="silence that ends the turn whatever Smart Turn says"
    )
    turn_threshold: float = Field(
        0.5, gt=0, lt=1, description="Smart Turn probability above which the turn is complete"
    )
    speculate: bool = Field(True, description="send an UtteranceDraft at each judged pause")
    rejoin: bool = Field(
        True, description="speech resuming right at an ended utterance's cut continues it"
    )
    threads: int = Field(1, ge=1, le=8, description="onnxruntime threads for Smart Turn")

    @model_validator(mode="after")
    def _fallback_after_pause(self) -> SmartTurnParams:
        if self.fallback_ms <= self.min_silence_ms:
            raise ValueError(
                f"fallback_ms ({self.fallback_ms}) must exceed min_silence_ms "
                f"({self.min_silence_ms}): the fallback ends a turn Smart Turn kept open"
            )
        return self

    def turn_rules(self) -> TurnRules:
        return TurnRules(self.min_silence_ms, self.fallback_ms, self.speculate, self.rejoin)


class SmartTurnVAD(SileroVAD):
    backend: ClassVar[str] = "smart-turn"
    description: ClassVar[str] = (
        "Silero VAD pauses judged by Smart Turn v3 (ONNX from pipecat-ai): semantic endpointing"
    )
    produces: ClassVar[tuple[type[Message], ...]] = (
        TurnStart, SpeechStarted, UtteranceDraft, UtteranceAudio, TurnEnd,
    )  # fmt: skip
    Params: ClassVar[type[StageParams]] = SmartTurnParams
    params: SmartTurnParams

    @classmethod
    def readiness(cls, params: StageParams, context: StageContext) -> str | None:
        missing = missing_package("faster_whisper", "faster-whisper")
        if missing is not None:
            return missing
        try:
            model_path()
        except Exception as exc:  # MissingModelError: says what to install
            return str(exc)
        return None

    def load(self) -> None:
        super().load()
        self._turn = SmartTurn(threshold=self.params.turn_threshold, threads=self.params.threads)

    def _new_session(self) -> _Session:
        rules, turn_rules = self.params.rules(), self.params.turn_rules()
        return _Session(SmartTurnEndpointer(self._model_session, self._turn, rules, turn_rules))

    def _add_other(self, session: _Session, event: Any, session_id: str, offered: int) -> None:
        if isinstance(event, Verdict):
            log.debug(
                "smart turn at %.2f s: p(complete)=%.3f in %.0f ms",
                event.at_s, event.probability, event.seconds * 1000,
            )  # fmt: skip
            return
        if isinstance(event, Rejoin):
            # The last turn's utterance was not the end of the request: withdraw that turn (its
            # reply is never spoken); the next turn's utterance carries its audio in front.
            # Earlier turns go on: read from a file faster than real time, they may not be done.
            withdrawn = session.turns
            log.debug("speech continues the utterance of turn %d", withdrawn)
            session.ready.append(
                Interrupt(
                    session_id=session_id,
                    turn_id=withdrawn,
                    first_turn_id=withdrawn,
                    reason="continued",
                )
            )
            return
        assert isinstance(event, Draft), event
        turn = session.open_turn
        if turn is None:
            turn = self._begin_turn(session, session_id, offered)
        session.ready.append(
            utterance_message(event.utterance, session_id, turn, UtteranceDraft)
        )
