"""Plain JSON values from protobuf messages and back, keeping int64 money as JSON numbers.

protobuf's own JSON mapping writes int64 as strings; hedui's report JSON (interfaces.md)
has integer fen. Field names are the proto names; unset ``optional`` fields are ``null``.

Both directions walk a plan made once per message type (its fields, in declaration order,
each with how its value is written or read), so a report is converted without looking a
descriptor up per field. Reading back takes the plan's fast path for values of exactly the
expected JSON types; anything else (a number as a string, an unknown field, a wrong type) is
read by protobuf's ``json_format.ParseDict``, which accepts and refuses exactly as before.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = ["message_to_plain", "message_to_plain_checked", "plain_to_message"]

M = TypeVar("M", bound=Message)

# How a field's value is written: the kinds of _Field.
_SCALAR, _ENUM, _BYTES, _MESSAGE = range(4)
_INTEGERS = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_FLOATS = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})


@dataclass(frozen=True, slots=True)
class _Field:
    """One field of a message type, as both directions need it."""

    name: str
    kind: int  # _SCALAR, _ENUM, _BYTES or _MESSAGE: of the value (a map's: of its values)
    repeated: bool
    is_map: bool
    optional: bool  # proto3 ``optional``: unset is null
    oneof: str | None  # a real oneof's name: written only when set
    accepts: tuple[type, ...]  # the JSON types read on the fast path (empty: never)
    enum_names: dict[int, str]
    enum_numbers: dict[str, int]
    message: Descriptor | None  # of the value (a map's: of its values)
    map_key_string: bool
    floating: bool  # a float or double (of the value)


def _kind(field: FieldDescriptor) -> int:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _MESSAGE
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _ENUM
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _BYTES
    return _SCALAR


def _accepts(field: FieldDescriptor) -> tuple[type, ...]:
    """The JSON value types the fast path reads for this (non-message) field; the rest go to ParseDict."""
    if field.type in _INTEGERS:
        return (int,)
    if field.type in _FLOATS:
        return (int, float)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return (bool,)
    if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_ENUM):
        return (str,)
    return ()  # bytes: base64 text, left to ParseDict


def _field(field: FieldDescriptor) -> _Field:
    value = field
    entry = field.message_type
    is_map = entry is not None and entry.GetOptions().map_entry
    key_string = False
    if entry is not None and is_map:
        value = entry.fields_by_name["value"]
        key_string = entry.fields_by_name["key"].type == FieldDescriptor.TYPE_STRING
    oneof = field.containing_oneof
    optional = oneof is not None and oneof.name == f"_{field.name}"
    enum = value.enum_type
    return _Field(
        name=field.name,
        kind=_kind(value),
        repeated=field.is_repeated and not is_map,
        is_map=is_map,
        optional=optional,
        oneof=None if oneof is None or optional else oneof.name,
        accepts=_accepts(value),
        enum_names={v.number: v.name for v in enum.values} if enum is not None else {},
        enum_numbers={v.name: v.number for v in enum.values} if enum is not None else {},
        message=value.message_type,
        map_key_string=key_string,
        floating=value.type in _FLOATS,
    )


@functools.cache
def _plan(descriptor: Descriptor) -> tuple[_Field, ...]:
    """A message type's fields in declaration order (made once per type)."""
    return tuple(_field(f) for f in descriptor.fields)


@functools.cache
def _by_name(descriptor: Descriptor) -> dict[str, _Field]:
    """A message type's fields by proto name."""
    return {f.name: f for f in _plan(descriptor)}


# --- messages to plain values ----------------------------------------------------------------------


def _value(field: _Field, value: Any, odd: list[float] | None) -> Any:
    """One value as plain JSON: messages recursively, enums by name (a number the proto does not name as
    the number, as protobuf's own JSON does), bytes as base64."""
    kind = field.kind
    if kind == _SCALAR:
        return value
    if kind == _MESSAGE:
        return _plain(value, odd)
    if kind == _ENUM:
        return field.enum_names.get(value, value)
    return base64.b64encode(value).decode("ascii")


def _alike(value: float) -> bool:
    """Whether JSON encoders agree on this float's text: Python's ``json`` writes an exponent below 1e-4 and from
    1e16 up, where orjson writes it otherwise (or not at all); in between both write the shortest repr."""
    return value == 0 or 1e-4 <= abs(value) < 1e16


def _note_floats(field: _Field, value: Any, odd: list[float]) -> None:
    """Add to ``odd`` the floats of a float field's value that encoders write differently."""
    values = value.values() if field.is_map else value if field.repeated else (value,)
    odd.extend(v for v in values if not _alike(v))


def _plain(message: Message, odd: list[float] | None) -> dict[str, Any]:
    """:func:`message_to_plain`; when ``odd`` is a list, floats that encoders write differently are added to it."""
    out: dict[str, Any] = {}
    for field in _plan(message.DESCRIPTOR):
        name = field.name
        if (field.optional or field.oneof is not None) and not message.HasField(name):
            if field.optional:
                out[name] = None
            continue
        value = getattr(message, name)
        if odd is not None and field.floating:
            _note_floats(field, value, odd)
        if field.is_map:
            if field.kind == _SCALAR:
                out[name] = dict(sorted(value.items()))
            else:
                out[name] = {k: _value(field, v, odd) for k, v in sorted(value.items())}
        elif field.repeated:
            out[name] = list(value) if field.kind == _SCALAR else [_value(field, v, odd) for v in value]
        else:
            out[name] = _value(field, value, odd)
    return out


def message_to_plain(message: Message) -> dict[str, Any]:
    """Every field of ``message``: defaults included, unset optional fields as ``None``."""
    return _plain(message, None)


def message_to_plain_checked(message: Message) -> tuple[dict[str, Any], bool]:
    """:func:`message_to_plain`, and whether every float in it is one that Python's ``json`` and orjson write
    alike (so that orjson may encode the value where json's exact bytes are wanted)."""
    odd: list[float] = []
    plain = _plain(message, odd)
    return plain, not odd


# --- plain values to messages ----------------------------------------------------------------------


class _Slow(Exception):
    """The fast path met a value it does not read; ParseDict reads (or refuses) the whole value."""


def _scalar(field: _Field, value: Any) -> Any:
    """A non-message value as the message takes it, or :class:`_Slow`."""
    if type(value) not in field.accepts:
        raise _Slow
    if field.kind == _ENUM:
        number = field.enum_numbers.get(value)
        if number is None:
            raise _Slow
        return number
    return value


def _fill(plain: Any, message: Message) -> None:
    """Fill an empty ``message`` from ``plain`` on the fast path; :class:`_Slow` for anything unusual."""
    if type(plain) is not dict:
        raise _Slow
    descriptor = message.DESCRIPTOR
    if descriptor.full_name.startswith("google.protobuf."):
        raise _Slow  # well-known types have JSON forms of their own
    fields = _by_name(descriptor)
    oneofs: set[str] = set()
    for name, value in plain.items():
        if value is None:
            continue
        field = fields.get(name)
        if field is None:
            raise _Slow
        if field.oneof is not None:
            if field.oneof in oneofs:
                raise _Slow
            oneofs.add(field.oneof)
        _set_field(message, field, value)


def _set_field(message: Message, field: _Field, value: Any) -> None:
    """Set one field of ``message`` from its plain value (not ``None``)."""
    name = field.name
    if field.is_map:
        if type(value) is not dict or not field.map_key_string:
            raise _Slow
        container = getattr(message, name)
        for key, item in value.items():
            if item is None:
                raise _Slow
            if field.kind == _MESSAGE:
                _fill(item, container[key])
            else:
                container[key] = _scalar(field, item)
    elif field.repeated:
        if type(value) is not list:
            raise _Slow
        container = getattr(message, name)
        if field.kind == _MESSAGE:
            for item in value:
                _fill(item, container.add())
        else:
            container.extend([_scalar(field, item) for item in value])
    elif field.kind == _MESSAGE:
        sub = getattr(message, name)
        sub.SetInParent()
        _fill(value, sub)
    else:
        setattr(message, name, _scalar(field, value))


def _strip_none(value: Any) -> Any:
    """``value`` without its ``None`` entries (unset fields), at every depth."""
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def _parse_dict(plain: dict[str, Any], message: M) -> M:
    json_format.ParseDict(_strip_none(plain), message)
    return message


def plain_to_message(plain: dict[str, Any], message: M) -> M:
    """Fill ``message`` from a plain value (``None`` means unset); unknown fields are errors."""
    if message.ListFields():
        return _parse_dict(plain, message)  # merging into a message already filled: ParseDict's rules
    try:
        _fill(plain, message)
    except Exception:  # _Slow, or a value protobuf refused: ParseDict decides, with its own error
        message.Clear()
        return _parse_dict(plain, message)
    return message
