"""Plain JSON values from protobuf messages and back, keeping int64 money as JSON numbers.

protobuf's own JSON mapping writes int64 as strings; hedui's report JSON (interfaces.md)
has integer fen. Field names are the proto names; unset ``optional`` fields are ``null``.
"""

from __future__ import annotations

import base64
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = ["message_to_plain", "plain_to_message"]

M = TypeVar("M", bound=Message)


def _value(field: Any, value: Any) -> Any:
    """One field value as plain JSON: messages recursively, enums by name (a number the proto does not name as
    the number, as protobuf's own JSON does), bytes as base64."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_to_plain(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        named = field.enum_type.values_by_number.get(value)
        return named.name if named is not None else value
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def message_to_plain(message: Message) -> dict[str, Any]:
    """Every field of ``message``: defaults included, unset optional fields as ``None``."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None:
            synthetic = oneof.name == f"_{field.name}"
            if not message.HasField(field.name):
                if synthetic:
                    out[field.name] = None
                continue
        value = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _value(value_field, v) for k, v in sorted(value.items())}
        elif field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        else:
            out[field.name] = _value(field, value)
    return out


def _strip_none(value: Any) -> Any:
    """``value`` without its ``None`` entries (unset fields), at every depth."""
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def plain_to_message(plain: dict[str, Any], message: M) -> M:
    """Fill ``message`` from a plain value (``None`` means unset); unknown fields are errors."""
    json_format.ParseDict(_strip_none(plain), message)
    return message
