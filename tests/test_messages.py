from __future__ import annotations

import dataclasses
import inspect

import pytest

from assistant import messages
from assistant.messages import IntentScore, Message, Parse, Transcript

MESSAGE_TYPES = [
    cls
    for _, cls in inspect.getmembers(messages, inspect.isclass)
    if issubclass(cls, Message) and cls is not Message
]


def test_required_message_types_exist() -> None:
    names = {cls.__name__ for cls in MESSAGE_TYPES}
    assert {
        "AudioFrame",
        "UtteranceAudio",
        "Transcript",
        "Parse",
        "DialogueState",
        "Reply",
        "SpeechChunk",
        "Interrupt",
        "StageError",
        "SessionStart",
        "SessionEnd",
    } <= names


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.__name__)
def test_messages_are_frozen_slotted_keyword_only(cls: type[Message]) -> None:
    params = dataclasses.fields(cls)
    assert {"session_id", "turn_id", "timestamp"} <= {f.name for f in params}
    assert all(f.kw_only for f in params)
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "__slots__" in cls.__dict__
    with pytest.raises(TypeError):
        cls("s", 1)  # positional arguments are refused


def test_message_cannot_be_changed_and_has_no_dict() -> None:
    transcript = Transcript(session_id="s", turn_id=1, text="hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        transcript.text = "changed"  # type: ignore[misc]
    assert not hasattr(transcript, "__dict__")


def test_timestamps_are_monotonic() -> None:
    first = Transcript(session_id="s", turn_id=1, text="a")
    second = Parse(
        session_id="s", turn_id=1, text="a", intent=IntentScore(name="greet", confidence=1.0)
    )
    assert second.timestamp >= first.timestamp


def test_system_messages_are_marked() -> None:
    system = {cls.__name__ for cls in MESSAGE_TYPES if cls.SYSTEM}
    assert {"Interrupt", "StageError", "SessionStart", "SessionEnd"} <= system
    assert not Transcript.SYSTEM and not messages.AudioFrame.SYSTEM
