"""Resident identity numbers (GB 11643-1999): consent/identity.py."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.identity import IdentityNumberError, check_character, china_today, mask, validate_identity_number

CHECK_CHARACTERS = "0123456789X"


def with_check(first17: str) -> str:
    return first17 + check_character(first17)


@pytest.mark.parametrize(
    "number",
    [
        "533401197803120118",
        "53340119800605022X",
        "533401200809110310",
        "533401194501010411",
        "11010519491231002X",  # the standard's own example
    ],
)
def test_valid_numbers_are_returned_unchanged(number: str) -> None:
    assert validate_identity_number(number) == number


def test_lower_case_x_and_surrounding_blanks_are_normalised() -> None:
    assert validate_identity_number(" 53340119800605022x\n") == "53340119800605022X"


def test_check_character_of_known_numbers() -> None:
    assert check_character("53340119780312011") == "8"
    assert check_character("53340119800605022") == "X"
    assert check_character("11010519491231002") == "X"


@pytest.mark.parametrize(
    "number",
    ["", "53340119780312011", "5334011978031201180", "533401780312011", "5334011978031201188"],
)
def test_wrong_length_is_rejected(number: str) -> None:
    with pytest.raises(IdentityNumberError, match="18 characters"):
        validate_identity_number(number)


@pytest.mark.parametrize(
    "number", ["53340119780312011A", "5334011978O3120118", "X33401197803120118", "53340119780312011 "]
)
def test_non_digits_are_rejected(number: str) -> None:
    # (the last one is 17 characters once stripped)
    with pytest.raises(IdentityNumberError):
        validate_identity_number(number)


@pytest.mark.parametrize("wrong", [c for c in CHECK_CHARACTERS if c != "8"])
def test_bad_check_character_is_rejected(wrong: str) -> None:
    with pytest.raises(IdentityNumberError, match="check character"):
        validate_identity_number("53340119780312011" + wrong)


def test_x_check_character_is_not_accepted_where_a_digit_is_due() -> None:
    with pytest.raises(IdentityNumberError, match="expected 0"):
        validate_identity_number("53340120080911031X")


@pytest.mark.parametrize(
    "birth",
    [
        "19800230",  # 30 February
        "19810229",  # 29 February of a common year
        "19001301",  # month 13
        "19800001",  # month 0
        "19800100",  # day 0
        "19800431",  # 31 April
        "00000000",
    ],
)
def test_impossible_calendar_dates_are_rejected(birth: str) -> None:
    with pytest.raises(IdentityNumberError, match="not a calendar date"):
        validate_identity_number(with_check("533401" + birth + "011"))


def test_leap_day_is_a_real_date() -> None:
    number = with_check("533401" + "20000229" + "011")
    assert validate_identity_number(number) == number


def test_future_birth_date_is_rejected() -> None:
    tomorrow = china_today() + dt.timedelta(days=1)  # China's tomorrow: UTC's is China's today after 16:00 UTC
    with pytest.raises(IdentityNumberError, match="not a possible birth date"):
        validate_identity_number(with_check("533401" + tomorrow.strftime("%Y%m%d") + "011"))


def test_birth_date_today_is_accepted() -> None:
    number = with_check("533401" + china_today().strftime("%Y%m%d") + "011")
    assert validate_identity_number(number) == number


def test_birth_before_1900_is_rejected() -> None:
    with pytest.raises(IdentityNumberError, match="not a possible birth date"):
        validate_identity_number(with_check("533401" + "18991231" + "011"))


def test_mask_keeps_first_six_and_last_four() -> None:
    assert mask("533401197803120118") == "533401********0118"
    assert mask("53340119800605022X") == "533401********022X"
    masked = mask("533401197803120118")
    assert len(masked) == 18
    assert "19780312" not in masked


@pytest.mark.parametrize("value", ["", "1234", "1234567890"])
def test_mask_hides_short_values_entirely(value: str) -> None:
    assert mask(value) == "*" * len(value)


@st.composite
def valid_bodies(draw: st.DrawFn) -> str:
    area = draw(st.from_regex(r"[0-9]{6}", fullmatch=True))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today()))
    sequence = draw(st.integers(min_value=0, max_value=999))
    return f"{area}{born:%Y%m%d}{sequence:03d}"


@given(body=valid_bodies(), other=st.sampled_from(CHECK_CHARACTERS))
def test_computed_check_character_validates_and_any_other_fails(body: str, other: str) -> None:
    check = check_character(body)
    assert check in CHECK_CHARACTERS
    assert validate_identity_number(body + check) == body + check
    if other != check:
        with pytest.raises(IdentityNumberError, match="check character"):
            validate_identity_number(body + other)


@given(
    body=valid_bodies(), position=st.integers(min_value=0, max_value=16), delta=st.integers(min_value=1, max_value=9)
)
def test_changing_one_digit_breaks_the_check_character(body: str, position: int, delta: int) -> None:
    # MOD 11-2 detects every single-digit substitution: the weights are all non-zero mod 11.
    changed = body[:position] + str((int(body[position]) + delta) % 10) + body[position + 1 :]
    assert check_character(changed) != check_character(body)
