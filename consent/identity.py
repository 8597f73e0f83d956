"""Resident identity numbers (GB 11643-1999): validation and masking."""

from __future__ import annotations

import datetime as dt
import re

__all__ = [
    "CHINA_TIME",
    "IdentityNumberError",
    "check_character",
    "china_today",
    "mask",
    "scrub",
    "validate_identity_number",
]

# Calendar dates (validity windows, birthdays, application dates) are China Standard Time dates.
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")


class IdentityNumberError(ValueError):
    """An identity number that is not 18 characters, has no real birth date or a bad check character."""


def china_today() -> dt.date:
    """Today's date in China, whatever the server's time zone."""
    return dt.datetime.now(CHINA_TIME).date()


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def validate_identity_number(value: str) -> str:
    """Return the number normalised (upper-case X) or raise :class:`IdentityNumberError`."""
    number = value.strip().upper()
    if len(number) != 18:
        raise IdentityNumberError(f"must be 18 characters, got {len(number)}")
    if not _SHAPE.match(number):
        raise IdentityNumberError("must be 17 digits followed by a digit or X")
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdentityNumberError(f"birth date {number[6:14]} is not a calendar date") from None
    if born.year < 1900 or born > china_today():
        raise IdentityNumberError(f"birth date {number[6:14]} is not a possible birth date")
    expected = check_character(number[:17])
    if number[17] != expected:
        raise IdentityNumberError(f"check character is {number[17]}, expected {expected}")
    return number


def mask(value: str) -> str:
    """Mask an identity number for logs and messages: first 6 and last 4 characters kept."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


# 18-character numbers, and the 15-digit numbers of the first-generation cards.
_ANY_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")


def scrub(text: str) -> str:
    """``text`` from outside (a department's error, a typed reason) with every identity number in it masked.

    For free text that goes into reports, logs or the permanent audit log.
    """
    return _ANY_ID_NUMBER.sub(lambda m: mask(m.group(0)), text)
