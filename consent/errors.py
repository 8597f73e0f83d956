"""The one shape of consent's refusals: which field of an artefact is not acceptable, and why.

Authorizations, member-key certificates, DSSE envelopes and their signatures are refused field by field; the
service turns ``field`` into the ``google.rpc.BadRequest`` field violation (docs/consent.md), so each refusal keeps
both apart.
"""

from __future__ import annotations

import json
from collections.abc import Collection

__all__ = ["FieldError", "json_object"]


class FieldError(ValueError):
    """An artefact refused at ``field`` for ``message``; ``str()`` reads ``field: message``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(self.describe(field, message))
        self.field = field
        self.message = message

    @staticmethod
    def describe(field: str, message: str) -> str:
        """The text of the refusal (a subclass may leave the field out)."""
        return f"{field}: {message}"


def json_object(payload: bytes, fields: Collection[str], *, where: str, error: type[FieldError]) -> dict[str, object]:
    """A signed payload as a JSON object holding only ``fields``; else ``error`` at ``where`` (not JSON, not an
    object) or at the first unknown field in sorted order."""
    try:
        raw = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise error(where, "is not UTF-8 JSON") from None
    if not isinstance(raw, dict):
        raise error(where, "must be a JSON object")
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise error(unknown[0], "unknown field")
    return raw
