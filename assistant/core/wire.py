"""The wire form of bus messages: a JSON header line, JSON data, then raw payload bytes.

Wyoming's framing (rhasspy/wyoming), so that a Wyoming server can reuse it:
`{"type": "audio_frame", "data_length": N, "payload_length": M}\\n`, N bytes of JSON data, M
payload bytes. A message's one `bytes` field (audio) is the payload: raw, never base64 in JSON.
As in Wyoming, a reader takes data inline in the header too and ignores header keys it does not
know. Each Message subclass travels as the snake_case of its class name, found when needed (the
table is walked again only after a new subclass is defined), so a plugin's messages travel once
imported. Fields convert by their declared types; a class with
`from_wire(data)` and `to_wire()` converts itself, so a field declared as a base class (a
dialogue event) carries any subclass. On purpose: JSON is strict (no NaN or infinity); an
`object` field holds a JSON value, so a tuple in it comes back a list, dict keys strings; fields
with defaults may be left out. Standard library only, plus the base class: this is core.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import types
import typing
import weakref
from collections.abc import Mapping
from typing import Any, Literal, Union

from assistant.core.message import Message, subclasses_defined

_NEWLINE = b"\n"


class WireError(ValueError):
    """Malformed wire input, or a message that has no wire form; the text is one line."""


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """One message on the wire, before framing: a WebSocket can send `type` and `data` as a text
    frame and `payload` as a binary frame, where a stream sends all three framed."""

    type: str
    data: dict[str, Any]
    payload: bytes = b""


# --- message types -------------------------------------------------------------------------------


def type_name(cls: type) -> str:
    """`UtteranceAudio` -> `utterance_audio`, `ASRResult` -> `asr_result`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls.__name__).lower()


def message_types() -> dict[str, type[Message]]:
    """Every Message subclass by wire type: plugins imported since the last call are included."""
    return dict(_message_types())


def _message_types() -> Mapping[str, type[Message]]:
    """The table, walked again only when a Message subclass was defined since the last walk
    (walking costs more than encoding a message). Held weakly: a plugin's or a test's class
    may be collected, and then it is gone from the table too."""
    generation = subclasses_defined()
    if _TABLE.generation != generation:
        _TABLE.types = weakref.WeakValueDictionary(_walk_message_types())
        _TABLE.generation = generation  # after the walk: a clash walks again next time
    return _TABLE.types


def _walk_message_types() -> dict[str, type[Message]]:
    found: dict[str, type[Message]] = {}
    todo = list(Message.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        name = type_name(cls)
        other = found.setdefault(name, cls)
        if other is cls or _pre_slots(cls, other):
            continue
        if not _pre_slots(other, cls):
            raise WireError(
                f"message type {name!r} names both {_qualname(other)} and {_qualname(cls)}"
            )
        found[name] = cls
    return found


@dataclasses.dataclass
class _Table:
    generation: int = -1
    types: Mapping[str, type[Message]] = dataclasses.field(default_factory=dict)


_TABLE = _Table()


def _pre_slots(old: type, new: type) -> bool:
    """Whether `old` is the class `dataclass(slots=True)` replaced by `new`: the original stays a
    subclass, kept alive by closure cells, but it is the same message, not a clash."""
    same = (old.__module__, old.__qualname__) == (new.__module__, new.__qualname__)
    return same and "__slots__" in vars(new) and "__slots__" not in vars(old)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _hints(cls: type) -> dict[str, Any]:
    """The declared types of a dataclass's init fields (ClassVars are not fields), cached
    (weakly: a plugin's class may go): resolving string annotations is slow."""
    if cls not in _HINTS:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}
    return _HINTS[cls]


_HINTS: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()


def _payload_field(cls: type[Message]) -> str | None:
    """The one `bytes` field, which travels as the payload."""
    names = [name for name, tp in _hints(cls).items() if tp is bytes]
    if len(names) > 1:
        raise WireError(
            f"{cls.__name__} has {len(names)} bytes fields {', '.join(names)}; "
            "only one can be the payload"
        )
    return names[0] if names else None


# --- messages <-> frames -------------------------------------------------------------------------


def to_frame(message: Message) -> Frame:
    """The message as type, JSON-ready data and payload."""
    cls = type(message)
    name = type_name(cls)
    if _message_types().get(name) is not cls:
        raise WireError(f"{_qualname(cls)} is not a wire message type")
    payload_name = _payload_field(cls)
    payload = b""
    data: dict[str, Any] = {}
    for field, tp in _hints(cls).items():
        value = getattr(message, field)
        if field == payload_name:
            if not isinstance(value, bytes | bytearray | memoryview):
                raise WireError(f"{name}.{field}: expected bytes, got {type(value).__name__}")
            payload = bytes(value)
        else:
            data[field] = _dump(value, tp, f"{name}.{field}")
    return Frame(name, data, payload)


def from_frame(frame: Frame) -> Message:
    """The message a frame describes; WireError when it describes none."""
    cls = _message_types().get(frame.type)
    if cls is None:
        raise WireError(f"unknown message type {frame.type!r}")
    if not isinstance(frame.data, dict):
        raise WireError(f"{frame.type}: data is {type(frame.data).__name__}, not an object")
    payload_name = _payload_field(cls)
    if payload_name is None and frame.payload:
        raise WireError(f"{frame.type} carries no payload but {len(frame.payload)} bytes came")
    values = _load_fields(cls, frame.data, frame.type, skip=payload_name)
    if payload_name is not None:
        values[payload_name] = bytes(frame.payload)
    return typing.cast(Message, _construct(cls, values, frame.type))


def _load_fields(cls: type, data: dict[str, Any], where: str, skip: str | None = None) -> dict:
    """Convert the fields of `data` by `cls`'s declared types; check none is extra or missing."""
    hints = {k: v for k, v in _hints(cls).items() if k != skip}
    extra = sorted(set(data) - set(hints))
    if extra:
        raise WireError(f"{where}: unknown field {extra[0]!r}")
    required = [f.name for f in dataclasses.fields(cls) if f.name in hints and _required(f)]
    missing = [name for name in required if name not in data]
    if missing:
        raise WireError(f"{where}: missing field {missing[0]!r}")
    return {k: _load(v, hints[k], f"{where}.{k}") for k, v in data.items()}


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _construct(cls: type, values: dict[str, Any], where: str) -> Any:
    try:
        return cls(**values)
    except Exception as e:  # a __post_init__ check, say: whatever it raises, it is bad input
        raise WireError(f"{where}: {type(e).__name__}: {e}") from e


# --- frames <-> bytes ----------------------------------------------------------------------------


def encode(message: Message) -> bytes:
    """The message framed: header line, JSON data, payload."""
    frame = to_frame(message)
    data = _json_bytes(frame.data, frame.type)
    header = {"type": frame.type, "data_length": len(data), "payload_length": len(frame.payload)}
    return _json_bytes(header, frame.type) + _NEWLINE + data + frame.payload


def decode(data: bytes) -> Message:
    """The one message that `data` frames, exactly: trailing bytes are an error too."""
    end = data.find(_NEWLINE)
    if end < 0:
        raise WireError("no header line: no newline in the input")
    type_, data_length, payload_length, inline = _header(data[:end])
    body = data[end + 1 :]
    if len(body) < data_length:
        raise WireError(f"data_length {data_length} but {len(body)} bytes follow")
    rest = len(body) - data_length
    if rest < payload_length:
        raise WireError(f"payload_length {payload_length} but {rest} bytes follow the data")
    if rest > payload_length:
        raise WireError(f"{rest - payload_length} bytes after the payload")
    fields = {**inline, **_data(body[:data_length], type_)}
    return from_frame(Frame(type_, fields, bytes(body[data_length:])))


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """The next message on the stream; None at a clean end (no byte of a next message)."""
    try:
        line = await reader.readline()
    except ValueError as e:  # asyncio's LimitOverrunError, wrapped
        raise WireError(f"header line too long: {e}") from e
    if not line:
        return None
    if not line.endswith(_NEWLINE):
        raise WireError(f"stream ended inside the header line ({len(line)} bytes)")
    type_, data_length, payload_length, inline = _header(line[:-1])
    data = await _read_exactly(reader, data_length, "data_length")
    payload = await _read_exactly(reader, payload_length, "payload_length")
    return from_frame(Frame(type_, {**inline, **_data(data, type_)}, payload))


async def write_message(writer: asyncio.StreamWriter, message: Message) -> None:
    """Write one framed message and wait until the transport has taken it (backpressure)."""
    writer.write(encode(message))
    await writer.drain()


async def _read_exactly(reader: asyncio.StreamReader, n: int, what: str) -> bytes:
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as e:
        raise WireError(f"{what} {n} but the stream ended after {len(e.partial)} bytes") from e


def _header(line: bytes) -> tuple[str, int, int, dict[str, Any]]:
    """Type, data length, payload length and inline data of a header line."""
    try:
        header = json.loads(line)
    except (ValueError, RecursionError) as e:  # bad UTF-8 too
        raise WireError(f"header is not JSON: {e}") from e
    if not isinstance(header, dict):
        raise WireError(f"header is {_kind(header)}, not a JSON object")
    type_ = header.get("type")
    if not isinstance(type_, str):
        raise WireError(f"header type is {_kind(type_)}, not a string")
    lengths = [header.get(k, 0) for k in ("data_length", "payload_length")]
    for key, n in zip(("data_length", "payload_length"), lengths, strict=True):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise WireError(f"header {key} is {n!r}, not a count of bytes")
    inline = header.get("data", {})
    if not isinstance(inline, dict):
        raise WireError(f"header data is {_kind(inline)}, not a JSON object")
    return type_, lengths[0], lengths[1], inline


def _data(raw: bytes, type_: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise WireError(f"{type_}: data is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise WireError(f"{type_}: data is {_kind(data)}, not a JSON object")
    return data


def _json_bytes(value: Any, where: str) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8")  # a lone surrogate in a str fails here
    except (TypeError, ValueError, RecursionError) as e:
        raise WireError(f"{where}: no JSON form: {e}") from e


# --- values <-> JSON -----------------------------------------------------------------------------


def _dump(value: Any, tp: Any, where: str) -> Any:
    """A value of declared type `tp` as a JSON value."""
    if type(value) is tp and tp in _PLAIN:
        return value  # most fields: what `_scalar` would check, at a tenth of the cost
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value  # json.dumps says whether it is JSON
    if origin in (Union, types.UnionType):
        return _first_arm(_dump, value, tp, where)
    if origin in (tuple, list):
        _expect(value, tuple | list, where)
        return [_dump(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(_items(value, args, where))]
    if origin is dict:
        _expect(value, dict, where)
        return {
            _dump(k, args[0], where): _dump(v, args[1], f"{where}.{k}") for k, v in value.items()
        }
    if _is_polymorphic(tp):
        _expect(value, tp, where)
        return value.to_wire()
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        _expect(value, tp, where)
        return {k: _dump(getattr(value, k), t, f"{where}.{k}") for k, t in _hints(tp).items()}
    return _scalar(value, tp, where)


def _load(value: Any, tp: Any, where: str) -> Any:
    """A JSON value as a value of declared type `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin in (Union, types.UnionType):
        return _first_arm(_load, value, tp, where)
    if origin in (tuple, list):
        _expect(value, list, where)
        items = [
            _load(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(_items(value, args, where))
        ]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        _expect(value, dict, where)
        return {k: _load(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if _is_polymorphic(tp):
        try:
            loaded = tp.from_wire(value)
        except Exception as e:  # the class's own code: whatever it raises, the input was bad
            raise WireError(f"{where}: bad {tp.__name__}: {type(e).__name__}: {e}") from e
        _expect(loaded, tp, where)
        return loaded
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        _expect(value, dict, where)
        return _construct(tp, _load_fields(tp, value, where), where)
    return _scalar(value, tp, where)


_PLAIN = frozenset({str, int, float, bool})


def _is_polymorphic(tp: Any) -> bool:
    return isinstance(tp, type) and all(callable(getattr(tp, m, None)) for m in _POLYMORPHIC)


_POLYMORPHIC = ("from_wire", "to_wire")


def _first_arm(convert: Any, value: Any, tp: Any, where: str) -> Any:
    """`X | None` gives X's own error; a wider union takes the first arm that takes the value."""
    arms = [arm for arm in typing.get_args(tp) if arm is not type(None)]
    if value is None and len(arms) < len(typing.get_args(tp)):
        return None
    if len(arms) == 1:
        return convert(value, arms[0], where)
    for arm in arms:
        try:
            return convert(value, arm, where)
        except WireError:
            continue
    raise WireError(f"{where}: expected {tp}, got {_kind(value)}")


def _items(value: Any, args: tuple[Any, ...], where: str) -> list[tuple[Any, Any]]:
    """Pair a sequence's items with their declared types: `tuple[X, ...]`, `tuple[X, Y]`."""
    if len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis):
        return [(v, args[0]) for v in value]
    if len(value) != len(args):
        raise WireError(f"{where}: expected {len(args)} items, got {len(value)}")
    return list(zip(value, args, strict=True))


def _scalar(value: Any, tp: Any, where: str) -> Any:
    """str, int, float, bool, None and Literal; a bool is no int here, as in JSON."""
    if typing.get_origin(tp) is Literal:
        if not any(value == a and type(value) is type(a) for a in typing.get_args(tp)):
            raise WireError(f"{where}: {value!r} is not one of {typing.get_args(tp)}")
        return value
    if tp is float and type(value) is int:
        return float(value)  # JSON writes 1.0 as 1.0, but other writers may write 1
    if tp is bytes:
        raise WireError(f"{where}: bytes travel only as a message's payload")
    if tp not in (str, int, float, bool, type(None)):
        raise WireError(f"{where}: no wire form for declared type {tp!r}")
    _expect(value, tp, where)
    if tp is int and isinstance(value, bool):
        raise WireError(f"{where}: expected int, got bool")
    return value


def _expect(value: Any, kind: Any, where: str) -> None:
    if not isinstance(value, kind):
        raise WireError(f"{where}: expected {getattr(kind, '__name__', kind)}, got {_kind(value)}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
