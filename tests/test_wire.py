"""The wire form: every message type round-trips, audio travels raw, bad input is a WireError."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gc
import json
import socket
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import messages
from assistant.core import wire
from assistant.core.wire import Frame, WireError
from assistant.dialogue.events import EVENT_TYPES, Event, SlotSet, UserUttered
from assistant.messages import (
    AudioFrame,
    DialogueState,
    DialogueUpdate,
    Entity,
    IntentScore,
    Message,
    Parse,
    Refusal,
    SessionEnd,
    SpeechChunk,
    Transcript,
    UtteranceAudio,
)

# --- strategies from the declared types ----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)  # what a field declared `object` (Entity.value, a slot's value) holds: JSON values only
SCALARS: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=12),
    int: st.integers(),
    float: st.floats(allow_nan=False, allow_infinity=False),
    bool: st.booleans(),
    type(None): st.none(),
    bytes: st.binary(max_size=64),
}


def subclasses(cls: type) -> set[type]:
    """Walked as the wire module walks them (pre-slots twins included)."""
    found: set[type] = set()
    todo = [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.add(sub)
            todo.append(sub)
    return found


EVENT_CLASSES = sorted(EVENT_TYPES.values(), key=lambda c: c.__name__)


def hints(cls: type) -> dict[str, Any]:
    declared = typing.get_type_hints(cls)
    return {f.name: declared[f.name] for f in dataclasses.fields(cls) if f.init}


def strategy(tp: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return JSON_VALUES
    if origin in (Union, types.UnionType):
        return st.one_of(*[strategy(a) for a in args])
    if origin is tuple and args[-1] is Ellipsis:
        return st.lists(strategy(args[0]), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*[strategy(a) for a in args])
    if origin is dict:
        return st.dictionaries(st.text(max_size=5), strategy(args[1]), max_size=3)
    if origin is Literal:
        return st.sampled_from(args)
    if tp is Event:  # polymorphic: any event
        return st.one_of(*[instances(c) for c in EVENT_CLASSES])
    if dataclasses.is_dataclass(tp):
        return instances(tp)
    return SCALARS[tp]


def instances(cls: type) -> st.SearchStrategy[Any]:
    return st.builds(cls, **{name: strategy(tp) for name, tp in hints(cls).items()})


def event_stamps(message: Message) -> list[tuple[str, float]]:
    """Events compare without their timestamps; the wire keeps them all the same."""
    events: tuple[Event, ...] = getattr(message, "events", ())
    return [(e.type_name, e.timestamp) for e in events]


# --- every message type --------------------------------------------------------------------------

MESSAGE_TYPES = sorted(wire.message_types().items())


def test_every_message_type_is_found() -> None:
    found = wire.message_types()
    assert found
    assert {Transcript, AudioFrame, DialogueState, Refusal} <= set(found.values())
    assert {wire.type_name(c) for c in subclasses(Message)} == set(found)
    in_module = {
        v for v in vars(messages).values() if isinstance(v, type) and issubclass(v, Message)
    }
    assert in_module - {Message} <= set(found.values())
    assert found["utterance_audio"] is UtteranceAudio
    assert wire.type_name(type("ASRResult", (), {})) == "asr_result"


def test_every_event_type_is_read() -> None:
    """event_from_json knows every Event subclass, so any event can travel."""
    assert {c.__qualname__ for c in subclasses(Event)} == {c.__qualname__ for c in EVENT_CLASSES}


@pytest.mark.parametrize(("name", "cls"), MESSAGE_TYPES, ids=[n for n, _ in MESSAGE_TYPES])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_every_message_round_trips(name: str, cls: type[Message], data: st.DataObject) -> None:
    message = data.draw(instances(cls))
    decoded = wire.decode(wire.encode(message))
    assert type(decoded) is cls
    assert decoded == message
    assert event_stamps(decoded) == event_stamps(message)
    frame = wire.to_frame(message)
    assert frame.type == name
    assert wire.from_frame(frame) == message


@settings(max_examples=30, deadline=None)
@given(
    state=instances(DialogueState),
    events=st.tuples(*[instances(c) for c in EVENT_CLASSES]),
)
def test_dialogue_state_carries_every_event_type(
    state: DialogueState, events: tuple[Event, ...]
) -> None:
    state = dataclasses.replace(state, events=events)
    decoded = wire.decode(wire.encode(state))
    assert isinstance(decoded, DialogueState)
    assert decoded == state
    assert [type(e) for e in decoded.events] == EVENT_CLASSES
    assert event_stamps(decoded) == event_stamps(state)


def test_object_fields_carry_json_values_so_a_tuple_comes_back_a_list() -> None:
    entity = Entity(entity="n", value=(1, 2), text="1 2", start=0, end=3)
    parse = Parse(session_id="s", turn_id=1, text="1 2", intent=IntentScore(name="x", confidence=1))
    decoded = wire.decode(wire.encode(dataclasses.replace(parse, entities=(entity,))))
    assert isinstance(decoded, Parse)
    assert decoded.entities[0].value == [1, 2]
    assert decoded.intent.confidence == 1.0 and isinstance(decoded.intent.confidence, float)


# --- audio is the payload ------------------------------------------------------------------------

PCM = bytes(range(256)) * 8
AUDIO = [
    AudioFrame(session_id="s", turn_id=1, pcm=PCM),
    UtteranceAudio(session_id="s", turn_id=1, pcm=PCM, end_s=1.5),
    SpeechChunk(session_id="s", turn_id=1, pcm=PCM, sample_rate=22_050, text="hi"),
]


@pytest.mark.parametrize("message", AUDIO, ids=lambda m: type(m).__name__)
def test_audio_travels_raw_after_the_json(message: Message) -> None:
    encoded = wire.encode(message)
    assert encoded.endswith(PCM)
    header_line, _, rest = encoded.partition(b"\n")
    header = json.loads(header_line)
    data_length = len(rest) - len(PCM)
    assert header == {
        "type": wire.type_name(type(message)),
        "data_length": data_length,
        "payload_length": len(PCM),
    }
    assert "pcm" not in json.loads(rest[:data_length])
    assert base64.b64encode(PCM) not in encoded
    frame = wire.to_frame(message)
    assert frame.payload == PCM and "pcm" not in frame.data


def test_empty_audio_has_no_payload() -> None:
    frame = AudioFrame(session_id="s", turn_id=1, pcm=b"")
    assert json.loads(wire.encode(frame).split(b"\n")[0])["payload_length"] == 0
    assert wire.decode(wire.encode(frame)) == frame


# --- streams -------------------------------------------------------------------------------------

STREAM = [
    SessionEnd(session_id="a", turn_id=0, reason="user"),
    AudioFrame(session_id="a", turn_id=1, pcm=b"\n\x00{" * 100),
    Transcript(session_id="a", turn_id=1, text="set a timer\nplease", start_s=0.5),
    DialogueUpdate(
        session_id="a",
        turn_id=1,
        events=(UserUttered(text="hi", intent="greet"), SlotSet(name="n", value={"x": [1]})),
    ),
    SpeechChunk(session_id="a", turn_id=1, pcm=b"\x01\x02", sample_rate=22_050, text="ok"),
]


async def read_all(reader: asyncio.StreamReader) -> list[Message]:
    out = []
    while (message := await wire.read_message(reader)) is not None:
        out.append(message)
    return out


def test_stream_round_trip_of_several_messages() -> None:
    async def run() -> list[Message]:
        reader = asyncio.StreamReader()
        reading = asyncio.create_task(read_all(reader))
        data = b"".join(wire.encode(m) for m in STREAM)
        for i in range(0, len(data), 7):  # arriving in pieces that cut headers and payloads
            reader.feed_data(data[i : i + 7])
            await asyncio.sleep(0)
        reader.feed_eof()
        return await reading

    assert asyncio.run(run()) == STREAM


def test_write_message_to_read_message_over_a_socket() -> None:
    async def run() -> list[Message]:
        left, right = socket.socketpair()
        _, writer = await asyncio.open_connection(sock=left)
        reader, other = await asyncio.open_connection(sock=right)
        for message in STREAM:
            await wire.write_message(writer, message)
        writer.close()
        await writer.wait_closed()
        got = await read_all(reader)
        other.close()
        return got

    assert asyncio.run(run()) == STREAM


@pytest.mark.parametrize(
    ("cut", "error"),
    [
        (10, "stream ended inside the header line"),
        (-len(PCM) - 5, "data_length"),
        (-5, f"payload_length {len(PCM)} but the stream ended after {len(PCM) - 5} bytes"),
    ],
)
def test_truncated_stream(cut: int, error: str) -> None:
    async def run() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(wire.encode(AUDIO[0])[:cut])
        reader.feed_eof()
        await wire.read_message(reader)

    with pytest.raises(WireError, match=error):
        asyncio.run(run())


# --- malformed input -----------------------------------------------------------------------------

BASE = {"session_id": "s", "turn_id": 1, "timestamp": 2.5}
BASE_LENGTH = len(json.dumps(BASE))


def framed(type_: str, data: object, payload: bytes = b"", **header: object) -> bytes:
    raw = json.dumps(data).encode()
    head = {"type": type_, "data_length": len(raw), "payload_length": len(payload), **header}
    return json.dumps(head).encode() + b"\n" + raw + payload


def parse_data(**intent: object) -> dict[str, object]:
    return {**BASE, "text": "hi", "intent": intent}


BAD = [
    (b'{"type": "session_start"}', "no header line"),
    (b"not json\n", "header is not JSON"),
    (b"\xff\xfe\n", "header is not JSON"),
    (b"[1, 2]\n", "header is list, not a JSON object"),
    (b'{"data_length": 0}\n', "header type is null, not a string"),
    (b'{"type": "foo"}\n', "unknown message type 'foo'"),
    (b'{"type": "session_start", "data_length": -1}\n', "header data_length is -1"),
    (b'{"type": "session_start", "data_length": "3"}\n', "header data_length is '3'"),
    (b'{"type": "session_start", "payload_length": true}\n', "header payload_length is True"),
    (b'{"type": "session_start", "data": [1]}\n', "header data is list"),
    (
        b'{"type": "session_start", "data_length": 12}\n{"a": 1}',
        "data_length 12 but 8 bytes follow",
    ),
    (
        framed("audio_frame", BASE)[:-1],
        f"data_length {BASE_LENGTH} but {BASE_LENGTH - 1} bytes follow",
    ),
    (framed("audio_frame", BASE, b"abcd")[:-1], "payload_length 4 but 3 bytes follow the data"),
    (framed("session_start", BASE) + b"xy", "2 bytes after the payload"),
    (b'{"type": "session_start", "data_length": 3}\n{"a', "session_start: data is not JSON"),
    (framed("session_start", [1]), "session_start: data is list, not a JSON object"),
    (framed("session_start", BASE, b"ab"), "session_start carries no payload but 2 bytes came"),
    (framed("transcript", BASE), "transcript: missing field 'text'"),
    (framed("session_start", {**BASE, "bogus": 1}), "session_start: unknown field 'bogus'"),
    (framed("audio_frame", {**BASE, "pcm": "AAAA"}), "audio_frame: unknown field 'pcm'"),
    (
        framed("session_start", {**BASE, "turn_id": "1"}),
        "session_start.turn_id: expected int, got str",
    ),
    (
        framed("session_start", {**BASE, "turn_id": True}),
        "session_start.turn_id: expected int, got bool",
    ),
    (framed("session_start", {**BASE, "session_id": None}), "expected str, got null"),
    (
        framed("transcript", {**BASE, "text": "x", "end_s": "1"}),
        "transcript.end_s: expected float, got str",
    ),
    (
        framed("reply", {**BASE, "text": "x", "tone": {"style": "calm"}}),
        "reply.tone: missing field 'reason'",
    ),
    (
        framed("sentiment", {**BASE, "label": "meh", "score": 0}),
        "sentiment.label: 'meh' is not one of",
    ),
    (framed("parse", parse_data(name="x")), "parse.intent: missing field 'confidence'"),
    (
        framed("parse", {**parse_data(name="x", confidence=1), "ranking": {}}),
        "parse.ranking: expected list, got dict",
    ),
    (
        framed("parse", {**BASE, "text": "hi", "intent": "greet"}),
        "parse.intent: expected dict, got str",
    ),
    (
        framed("dialogue_update", {**BASE, "events": [{"event": "nope"}]}),
        "dialogue_update.events[0]: bad Event: UnknownEventError: unknown event type 'nope'",
    ),
    (
        framed("dialogue_update", {**BASE, "events": [{"event": "action"}]}),
        "dialogue_update.events[0]: bad Event: TypeError",
    ),
    (framed("dialogue_update", {**BASE, "events": [7]}), "dialogue_update.events[0]: bad Event"),
    (
        framed(
            "dialogue_state",
            {**BASE, "parse": {**parse_data(name="x", confidence=1), **BASE}, "slots": [["a"]]},
        ),
        "dialogue_state.slots[0]: expected 2 items, got 1",
    ),
]


@pytest.mark.parametrize(("data", "error"), BAD, ids=[e for _, e in BAD])
def test_malformed_input_is_a_wire_error(data: bytes, error: str) -> None:
    with pytest.raises(WireError) as caught:
        wire.decode(data)
    assert error in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_wyoming_header_with_inline_data_and_a_version() -> None:
    line = json.dumps({"type": "session_end", "version": "1.5.2", "data": BASE}).encode() + b"\n"
    assert wire.decode(line) == SessionEnd(**BASE)  # type: ignore[arg-type]


def test_fields_with_defaults_may_be_left_out() -> None:
    assert wire.decode(framed("session_end", BASE)) == SessionEnd(**BASE)  # type: ignore[arg-type]


def test_from_frame_checks_a_frame_from_elsewhere() -> None:
    with pytest.raises(WireError, match="unknown message type 'nope'"):
        wire.from_frame(Frame("nope", {}))
    with pytest.raises(WireError, match="session_end: data is list"):
        wire.from_frame(Frame("session_end", [1]))  # type: ignore[arg-type]


# --- what cannot be encoded ----------------------------------------------------------------------


def test_values_without_a_json_form() -> None:
    entity = Entity(entity="n", value=object(), text="", start=0, end=0)
    parse = Parse(
        session_id="s",
        turn_id=1,
        text="",
        intent=IntentScore(name="x", confidence=1),
        entities=(entity,),
    )
    with pytest.raises(WireError, match="parse: no JSON form"):
        wire.encode(parse)
    with pytest.raises(WireError, match="no JSON form"):
        wire.encode(Transcript(session_id="s", turn_id=1, text="x", timestamp=float("nan")))
    with pytest.raises(WireError, match=r"transcript.turn_id: expected int, got str"):
        wire.encode(Transcript(session_id="s", turn_id="1", text="x"))  # type: ignore[arg-type]


def test_the_base_message_is_no_wire_type() -> None:
    with pytest.raises(WireError, match=r"core\.message\.Message is not a wire message type"):
        wire.encode(Message(session_id="s", turn_id=1))


@pytest.fixture
def scratch_messages() -> Iterator[None]:
    """Message subclasses a test defines stay subclasses until collected: collect them, so that
    no later test meets them."""
    yield
    gc.collect()
    assert set(wire.message_types()) == {name for name, _ in MESSAGE_TYPES}


@pytest.mark.usefixtures("scratch_messages")
def test_two_bytes_fields_are_an_error() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class TwoBlobs(Message):
        left: bytes
        right: bytes

    with pytest.raises(WireError, match="TwoBlobs has 2 bytes fields left, right"):
        wire.encode(TwoBlobs(session_id="s", turn_id=1, left=b"a", right=b"b"))


@pytest.mark.usefixtures("scratch_messages")
def test_clashing_type_names_are_an_error() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Transcript(Message):  # a plugin's, say, clashing with the product's
        text: str

    with pytest.raises(WireError, match="message type 'transcript' names both"):
        wire.message_types()
    with pytest.raises(WireError, match="message type 'transcript' names both"):
        wire.encode(SessionEnd(session_id="s", turn_id=1))


@pytest.mark.usefixtures("scratch_messages")
def test_a_message_type_defined_after_the_table_was_built_still_travels() -> None:
    before = wire.message_types()
    assert "late_plugin_note" not in before
    wire.encode(Transcript(session_id="s", turn_id=1, text="builds the table"))

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class LatePluginNote(Message):
        note: str

    sent = LatePluginNote(session_id="s", turn_id=2, note="defined after the first encode")
    assert wire.decode(wire.encode(sent)) == sent
    assert wire.message_types()["late_plugin_note"] is LatePluginNote


def test_the_type_table_is_kept_until_a_message_type_is_defined() -> None:
    wire.message_types()
    table = wire._message_types()
    wire.encode(Transcript(session_id="s", turn_id=1, text="x"))
    assert wire._message_types() is table  # not walked again per message
    copy = wire.message_types()
    copy.clear()  # the public table is a copy: a caller cannot break the cache
    assert wire._message_types() is table and "transcript" in table


@pytest.mark.usefixtures("scratch_messages")
def test_a_collected_message_type_leaves_the_table() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Ephemeral(Message):
        pass

    assert "ephemeral" in wire.message_types()
    del Ephemeral
    gc.collect()
    assert "ephemeral" not in wire.message_types()


@pytest.mark.usefixtures("scratch_messages")
def test_a_clash_defined_after_the_table_was_built_is_found() -> None:
    wire.encode(Transcript(session_id="s", turn_id=1, text="x"))  # the table is built, kept

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class SessionEnd(Message):  # a plugin's, clashing with the control message
        pass

    with pytest.raises(WireError, match="message type 'session_end' names both"):
        wire.encode(Transcript(session_id="s", turn_id=1, text="x"))
