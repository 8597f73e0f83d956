"""RFC 3339 instants as consent's artefacts write and read them: UTC, whole seconds, ``Z``.

Certificates, authorizations and the trust store's messages name instants the same way, so one reader and one
writer serve them all.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["format_rfc3339", "parse_rfc3339"]

_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})")


def parse_rfc3339(value: object) -> dt.datetime:
    """An RFC 3339 instant with its offset (``2026-11-01T09:30:00+08:00`` or ``…Z``), as UTC; else ValueError."""
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        raise ValueError("must be an RFC 3339 instant with offset, e.g. 2026-11-01T09:30:00+08:00")
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
    except (ValueError, OverflowError):  # issue 13: year 0001 at +14:00 is before datetime.min in UTC
        raise ValueError(f"{value!r} is not a real instant") from None


def format_rfc3339(value: dt.datetime) -> str:
    """An aware instant as RFC 3339 in UTC to the second: ``2026-11-01T01:30:00Z``."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
