"""RFC 3339 instants: consent/instants.py."""

from __future__ import annotations

import datetime as dt

import pytest

from consent.instants import format_rfc3339, parse_rfc3339
from consent.signers import parse_rfc3339 as parse_rfc3339_of_signers

CST = dt.timezone(dt.timedelta(hours=8))


def test_an_instant_is_written_in_utc_to_the_second_with_z() -> None:
    # 09:30:00.75 China time is 01:30:00 UTC; the fraction is dropped, the offset written as Z.
    assert format_rfc3339(dt.datetime(2026, 11, 1, 9, 30, 0, 750000, tzinfo=CST)) == "2026-11-01T01:30:00Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T09:30:00+08:00", dt.datetime(2026, 11, 1, 1, 30, tzinfo=dt.UTC)),
        ("2026-11-01T01:30:00Z", dt.datetime(2026, 11, 1, 1, 30, tzinfo=dt.UTC)),
        ("2026-11-01T01:30:00.5Z", dt.datetime(2026, 11, 1, 1, 30, 0, 500000, tzinfo=dt.UTC)),
    ],
)
def test_an_instant_with_its_offset_is_read_as_utc(text: str, expected: dt.datetime) -> None:
    parsed = parse_rfc3339(text)

    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2026-11-01T09:30:00", "with offset"),
        ("2026-11-01 09:30:00Z", "with offset"),
        (1762000000, "with offset"),
        ("2026-02-30T09:30:00Z", "not a real instant"),
    ],
)
def test_an_instant_without_offset_or_not_real_is_refused(value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_rfc3339(value)


def test_written_instants_read_back_and_signers_still_offers_the_reader() -> None:
    instant = dt.datetime(2026, 11, 1, 1, 30, tzinfo=dt.UTC)

    assert parse_rfc3339(format_rfc3339(instant)) == instant
    assert parse_rfc3339_of_signers is parse_rfc3339
