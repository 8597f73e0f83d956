"""Fen and calendar arithmetic: rounding half up once, the window, months back."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from verifier.assessment.arithmetic import months_before, round_half_up, window_periods


def test_round_half_up() -> None:
    assert [round_half_up(Fraction(n, 2)) for n in (0, 1, 2, 3)] == [0, 1, 1, 2]
    assert round_half_up(Fraction(2_080_000, 36)) == 57_778  # 57_777.78
    with pytest.raises(ValueError, match="never negative"):
        round_half_up(-1)


def test_window_is_the_twelve_months_before_the_application_month() -> None:
    window = window_periods(dt.date(2026, 1, 15))
    assert (window[0], window[-1], len(window)) == ("2025-01", "2025-12", 12)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2026, 11, 1), 12, dt.date(2025, 11, 1)),
        (dt.date(2026, 3, 31), 1, dt.date(2026, 2, 28)),
        (dt.date(2024, 3, 31), 1, dt.date(2024, 2, 29)),
        (dt.date(2026, 1, 31), 2, dt.date(2025, 11, 30)),
        (dt.date(2026, 12, 31), 12, dt.date(2025, 12, 31)),
    ],
)
def test_months_before(day: dt.date, months: int, expected: dt.date) -> None:
    assert months_before(day, months) == expected
