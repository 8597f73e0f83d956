"""The log's one encoding: canonical_json is Python's json.dumps(sort_keys, no spaces, ensure_ascii=False) byte for
byte, whichever encoder wrote it, and verify's canonical check agrees on every value (issue 12 bench: orjson)."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import AuditEvent
from audit.events import canonical_entry, canonical_json
from audit.verify import _decoded

# What an entry may hold (JsonValue), with any text: escapes, controls, quotes, non-ASCII, astral characters.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
plain = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), text, st.lists(text, max_size=3))
bodies = st.dictionaries(text, st.one_of(plain, st.dictionaries(text, plain, max_size=4)), max_size=6)


def json_s(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@settings(max_examples=500, deadline=None)
@given(bodies)
def test_canonical_json_is_json_s_encoding(value: dict[str, object]) -> None:
    encoded = canonical_json(value)
    assert encoded == json_s(value)
    decoded = _decoded(encoded)
    assert decoded is not None and json_s(decoded) == encoded


@settings(max_examples=300, deadline=None)
@given(bodies)
def test_a_re_spaced_or_reordered_encoding_is_not_canonical(value: dict[str, object]) -> None:
    spaced = json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")
    assert (_decoded(spaced) is not None) == (spaced == json_s(value))
    ascii_only = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    assert (_decoded(ascii_only) is not None) == (ascii_only == json_s(value))


def test_an_entry_s_bytes_are_unchanged() -> None:
    """The bytes of an entry written before orjson, kept as a literal."""
    event = AuditEvent(
        kind="REPORT_READ",
        operator="王 worker",
        client='ipv4:10.0.0.1 "x"',
        verification="v1",
        subjects=("b" * 64, "a" * 64),
        details={"report_id": "r1", "version": 1, "ok": True, "none": None, "list": ["x", "y\n"]},
    )
    entry = canonical_entry(event, dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC))
    assert (
        entry
        == (
            '{"authorization":"","client":"ipv4:10.0.0.1 \\"x\\"","department":"","details":{"list":["x","y\\n"],'
            '"none":null,"ok":true,"report_id":"r1","version":1},"kind":"REPORT_READ","operator":"王 worker",'
            f'"subjects":["{"a" * 64}","{"b" * 64}"],"time":"2026-12-01T09:00:00.000000+00:00","verification":"v1"}}'
        ).encode()
    )


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)),
    st.sampled_from(["plain", 'with "quotes"']),
    st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))]),
)
def test_an_entry_s_time_is_written_as_isoformat_writes_it(when: dt.datetime, operator: str, zone: dt.tzinfo) -> None:
    """orjson writes instants with microseconds (and json those of an entry that needs escapes): the same text as
    isoformat with microseconds, whatever the zone given, a whole second included."""
    for instant in (when, when.replace(microsecond=0)):
        entry = canonical_entry(AuditEvent(kind="REPORT_READ", operator=operator), instant.astimezone(zone))
        assert json.loads(entry)["time"] == instant.isoformat(timespec="microseconds")
        assert entry == json_s(json.loads(entry))
