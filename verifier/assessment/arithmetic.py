"""The assessment's fen and calendar arithmetic: rounding once, half up; the window; months back."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

__all__ = ["months_before", "round_half_up", "window_periods"]


def round_half_up(value: Fraction | int) -> int:
    """Round a non-negative exact amount of fen half up (0.5 fen → 1 fen)."""
    exact = Fraction(value)
    if exact < 0:
        raise ValueError("money amounts here are never negative")
    whole, rest = divmod(exact.numerator, exact.denominator)
    return whole + (1 if 2 * rest >= exact.denominator else 0)


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier, or the last day of that month when it is shorter."""
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    following = dt.date(year + (month0 == 11), (month0 + 1) % 12 + 1, 1)
    last = (following - dt.timedelta(days=1)).day
    return dt.date(year, month0 + 1, min(day.day, last))


def window_periods(application_date: dt.date) -> tuple[str, ...]:
    """The 12 calendar months before the application month, oldest first ("YYYY-MM")."""
    first = application_date.year * 12 + application_date.month - 1 - 12
    return tuple(f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(first, first + 12))
