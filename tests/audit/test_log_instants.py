"""Instants read back from the audit tables: audit/log.py as_utc."""

from __future__ import annotations

import datetime as dt

from audit.log import as_utc

CST = dt.timezone(dt.timedelta(hours=8))


def test_a_naive_instant_from_sqlite_is_utc() -> None:
    assert as_utc(dt.datetime(2026, 11, 1, 1, 30)) == dt.datetime(2026, 11, 1, 1, 30, tzinfo=dt.UTC)
    assert as_utc(dt.datetime(2026, 11, 1, 1, 30)).utcoffset() == dt.timedelta(0)


def test_an_aware_instant_is_kept_as_it_is() -> None:
    instant = dt.datetime(2026, 11, 1, 9, 30, tzinfo=CST)

    assert as_utc(instant) is instant
