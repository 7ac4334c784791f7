"""Speculative transcription: an asr stage starts on an `UtteranceDraft` (the VAD's guess that
the turn ends at this pause) and uses that work only for an `UtteranceAudio` of exactly the same
audio, in the same turn. No stage downstream takes what a draft becomes (at most a
`TranscriptDraft` for a client to show), so a wrong guess never reaches them; it costs only the
transcription already under way.

Kept per session: one draft at a time (a later pause replaces it), dropped at a session's start
or end and by an interrupt of its turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from assistant.messages import (
    Interrupt,
    Message,
    SessionEnd,
    SessionStart,
    UtteranceAudio,
    UtteranceDraft,
)

R = TypeVar("R")


class Speculation(Generic[R]):
    def __init__(self) -> None:
        self._drafts: dict[str, tuple[UtteranceDraft, asyncio.Future[R]]] = {}
        self.hits = 0  # final utterances whose transcription had begun on their draft
        self.misses = 0  # drafts that were not the final audio (the speaker went on)

    def start(
        self, draft: UtteranceDraft, transcribe: Callable[[UtteranceDraft], Awaitable[R]]
    ) -> None:
        """Begin transcribing `draft` in the background (the stage's worker thread)."""
        self._drop(draft.session_id)
        future = asyncio.ensure_future(transcribe(draft))
        future.add_done_callback(_retrieve)
        self._drafts[draft.session_id] = (draft, future)

    def take(self, audio: UtteranceAudio) -> asyncio.Future[R] | None:
        """The transcription of a draft identical to `audio`, if one was begun; the session's
        draft is forgotten either way."""
        entry = self._drafts.pop(audio.session_id, None)
        if entry is None:
            return None
        draft, future = entry
        same = (draft.turn_id, draft.sample_rate, draft.pcm) == (
            audio.turn_id, audio.sample_rate, audio.pcm,
        )  # fmt: skip
        if not same:
            self.misses += 1
            future.cancel()
            return None
        self.hits += 1
        return future

    def control(self, message: Message) -> None:
        if isinstance(message, SessionStart | SessionEnd):
            self._drop(message.session_id)
        elif isinstance(message, Interrupt):
            entry = self._drafts.get(message.session_id)
            if entry is not None and message.cancels(entry[0]):
                self._drop(message.session_id)

    def _drop(self, session_id: str) -> None:
        entry = self._drafts.pop(session_id, None)
        if entry is not None:
            self.misses += 1
            entry[1].cancel()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Consume an unused draft's failure: the final transcription reports its own."""
    if not future.cancelled():
        future.exception()
