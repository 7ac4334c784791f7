"""What the tone stage remembers of a conversation: the sentiment of its recent user turns, how
long the current run of one label has lasted, and what was already said in that run.

The sentiment of turn N always reaches the tone stage before the reply of turn N (the sentiment
stage publishes it before passing the turn on), so a reply finds its turn's mood here.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from assistant.messages import Sentiment


@dataclass(frozen=True, slots=True)
class Mood:
    """One user turn's sentiment and where it stands in its stretch of same-label turns."""

    turn_id: int
    label: str
    score: float
    streak: int  # turns in a row with this label, this one included
    stretch_start: int  # the turn that began the stretch


@dataclass
class SessionHistory:
    max_turns: int
    moods: deque[Mood] = field(init=False)
    done: dict[str, int] = field(default_factory=dict)  # action -> stretch it was done in
    last_phrase: str | None = None

    def __post_init__(self) -> None:
        self.moods = deque(maxlen=self.max_turns)

    def add(self, sentiment: Sentiment) -> None:
        previous = self.moods[-1] if self.moods else None
        if previous is not None and previous.label == sentiment.label:
            streak, start = previous.streak + 1, previous.stretch_start
        else:
            streak, start = 1, sentiment.turn_id
        self.moods.append(Mood(sentiment.turn_id, sentiment.label, sentiment.score, streak, start))

    def mood_of(self, turn_id: int) -> Mood | None:
        return next((m for m in reversed(self.moods) if m.turn_id == turn_id), None)

    def latest(self) -> Mood | None:
        return self.moods[-1] if self.moods else None

    def first_in_stretch(self, action: str, mood: Mood) -> bool:
        """True, and remembered, the first time `action` is asked for in this mood's stretch."""
        if self.done.get(action) == mood.stretch_start:
            return False
        self.done[action] = mood.stretch_start
        return True


class Histories:
    """One history per session; the least recently used is forgotten beyond `max_sessions`."""

    def __init__(self, max_turns: int, max_sessions: int = 256) -> None:
        self.max_turns = max_turns
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, SessionHistory] = OrderedDict()

    def __getitem__(self, session_id: str) -> SessionHistory:
        history = self._sessions.get(session_id)
        if history is None:
            history = self._sessions[session_id] = SessionHistory(self.max_turns)
            if len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        self._sessions.move_to_end(session_id)
        return history

    def forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
