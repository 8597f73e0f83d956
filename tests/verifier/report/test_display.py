"""verifier.report.display: amounts before → after in yuan, masked free text, instants, CSS-safe text."""

from __future__ import annotations

import pytest
from assessment_kit import APPLICANT, SPOUSE

from verifier.report.display import arrow, css_safe, instant, masked_text, yuan


@pytest.mark.parametrize(
    ("fen", "shown"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (99, "0.99"),
        (100, "1.00"),
        (-1, "-0.01"),
        (-99, "-0.99"),
        (-100, "-1.00"),
        (-123_456, "-1,234.56"),
        (100_000, "1,000.00"),
        (85_000, "850.00"),
        (123_456_789_012, "1,234,567,890.12"),
        (2**63 - 1, "92,233,720,368,547,758.07"),  # the largest int64: no float on the way
    ],
)
def test_yuan_from_fen(fen: int, shown: str) -> None:
    assert yuan(fen) == shown


def test_arrow_shows_both_amounts_in_yuan() -> None:
    assert arrow(0, 0) == "0.00 → 0.00"
    assert arrow(600_000, 1_234_567) == "6,000.00 → 12,345.67"
    assert arrow(-5, 5) == "-0.05 → 0.05"
    assert arrow(1_000, -250) == "10.00 → -2.50"


def test_masked_text_masks_every_identity_number_and_leaves_the_rest() -> None:
    text = f"核对 {APPLICANT} 与 {SPOUSE}：不一致"
    assert masked_text(text) == "核对 533401********0118 与 533401********022X：不一致"
    assert masked_text("旧证 533401780312011 已换") == "旧证 533401*****2011 已换"  # 15-digit first-generation
    assert masked_text("no number here 12345") == "no number here 12345"
    assert masked_text("") == ""


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-11-23T12:51:13Z", "2026-11-23 12:51:13 UTC"),
        ("2026-11-23T12:51:13.250Z", "2026-11-23 12:51:13.250 UTC"),
        ("2026-11-23T20:51:13+08:00", "2026-11-23 20:51:13+08:00"),  # not UTC: no "UTC" added
        ("", ""),
        (None, ""),
    ],
)
def test_instant(value: str | None, shown: str) -> None:
    assert instant(value) == shown


def test_css_safe_keeps_only_ascii_letters_digits_and_the_allowed_marks() -> None:
    assert css_safe("HIGH") == "HIGH"
    assert css_safe("not_queried") == "not_queried"
    assert css_safe("hedui 0.1.0 / r-zhang") == "hedui 0.1.0 / r-zhang"
    assert css_safe("a\"b'c;d{e}f\\g</style>") == "abcdefg/style"
    assert css_safe("市场监督管理部门 x") == " x"  # non-ASCII letters go
    assert css_safe("１２３abc") == "abc"  # full-width digits are alphanumeric but not ASCII
    assert css_safe("a-b c/d", allowed=("-",)) == "a-bcd"
    assert css_safe("a\nb\tc") == "abc"
