"""Financial assets: every account counts, as of the application date (policy.md, "Assets")."""

from __future__ import annotations

from harness import example_request

from connectors.records import AccountRecord
from verifier.assessment import SourceOutcome, assess
from verifier.policy import default_policy
from verifier.request import parse_request

APPLICANT = "533401197803120118"


def account(record_id: str, balance: int, as_of: str) -> AccountRecord:
    return AccountRecord(record_id, APPLICANT, "农村信用社", "deposit", balance, as_of)


def test_two_deposits_at_one_bank_both_count_and_later_balances_do_not() -> None:
    request = parse_request(example_request())
    records = (
        account("BK-1", 4_000_000, "2026-10-31"),
        account("BK-2", 4_000_000, "2026-10-31"),
        account("BK-3", 9_000_000, "2026-11-20"),  # after the application date (2026-11-01)
    )
    sources = {"banks": SourceOutcome("banks", "ok", records)}
    result = assess(request, default_policy(), sources)
    # 4 000 000 + 4 000 000 = 8 000 000 > 24 × 85 000 × 3 = 6 120 000
    assert result.household.financial_assets_fen == 8_000_000
    assert [f.code for f in result.flags if f.department == "banks"] == ["FINANCIAL_ASSETS_ABOVE_LIMIT"]
