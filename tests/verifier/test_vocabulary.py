"""verifier.vocabulary: every StrEnum's values are the strings interfaces.md (and the protos) use, and the two
properties say which statuses and states are final."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from harness import SPEC

from hedui.v1 import verification_pb2
from verifier.vocabulary import (
    Area,
    Classification,
    DeductionKind,
    DepartmentStatus,
    EmploymentCategory,
    Purpose,
    Relation,
    Severity,
    VerificationState,
)

# Written by hand from interfaces.md, policy.md, warnings.md, docs/api.md and the proto comments.
EXPECTED: dict[type[StrEnum], set[str]] = {
    DepartmentStatus: {"queued", "querying", "ok", "unavailable", "pending", "not_queried"},
    VerificationState: {"RUNNING", "AWAITING_ANSWERS", "COMPLETED", "FAILED"},
    Purpose: {"ASSESSMENT", "RECHECK", "TEMPORARY_ASSISTANCE"},
    Area: {"urban", "rural"},
    Relation: {"applicant", "spouse", "child", "parent", "sibling", "other"},
    EmploymentCategory: {"fresh_graduate", "released_prisoner", "veteran"},
    DeductionKind: {"medical", "rehabilitation", "education", "pension_contribution", "employment_cost"},
    Classification: {
        "DIBAO",
        "DIBAO_AFTER_DEDUCTIONS",
        "MARGINAL",
        "NOT_ELIGIBLE_INCOME",
        "NOT_ELIGIBLE_ASSETS",
        "INCONCLUSIVE",
    },
    Severity: {"HIGH", "MEDIUM", "LOW"},
}


@pytest.mark.parametrize("vocabulary", list(EXPECTED), ids=lambda v: v.__name__)
def test_each_vocabulary_has_exactly_the_documented_values(vocabulary: type[StrEnum]) -> None:
    assert {member.value for member in vocabulary} == EXPECTED[vocabulary]


@pytest.mark.parametrize("vocabulary", list(EXPECTED), ids=lambda v: v.__name__)
def test_a_member_is_equal_to_its_string_and_reads_back_from_it(vocabulary: type[StrEnum]) -> None:
    for value in EXPECTED[vocabulary]:
        member = vocabulary(value)
        assert member == value and str(member) == value and f"{member}" == value
        assert hash(member) == hash(value)  # a dict keyed by strings finds the member, and back
        assert {value: 1}[member] == 1


def test_an_unknown_string_is_not_a_member() -> None:
    with pytest.raises(ValueError, match="'OK'"):
        DepartmentStatus("OK")  # the values are case-sensitive: "ok"
    with pytest.raises(ValueError, match="'running'"):
        VerificationState("running")


def test_terminal_states_are_completed_and_failed() -> None:
    assert {s for s in VerificationState if s.terminal} == {"COMPLETED", "FAILED"}
    assert not VerificationState.AWAITING_ANSWERS.terminal  # a late answer makes a new report version
    assert not VerificationState.RUNNING.terminal


def test_the_verification_states_are_the_proto_enum_names() -> None:
    names = set(verification_pb2.Verification.State.keys()) - {"STATE_UNSPECIFIED"}
    assert names == set(VerificationState)
    for state in VerificationState:  # the API sets the enum by the StrEnum's value
        assert verification_pb2.Verification(state=state).state == verification_pb2.Verification.State.Value(state)


def _alternatives(text: str, pattern: str) -> set[str]:
    """The ``a | b | c`` (or ``a|b|c``) list right after ``pattern`` in ``text``."""
    found = re.search(pattern + r"[^A-Za-z_]*([A-Za-z_]+(?:\s*\|\s*[A-Za-z_]+)+)", text)
    assert found is not None, pattern
    return {word.strip() for word in found.group(1).split("|")}


def test_the_values_are_the_ones_interfaces_md_names() -> None:
    interfaces = SPEC / "interfaces.md"
    if not interfaces.exists():
        pytest.skip(f"{interfaces} is not here (the shared spec is outside the repository)")
    text = interfaces.read_text(encoding="utf-8")
    assert _alternatives(text, r'"area": "urban",\s*//') == set(Area)
    assert _alternatives(text, r'"purpose": "ASSESSMENT",\s*//') == set(Purpose)
    assert _alternatives(text, r'"relation": "applicant",\s*//') == set(Relation)
    assert _alternatives(text, r'"employment_category": null,\s*//') - {"null"} == set(EmploymentCategory)
    report_statuses = _alternatives(text, r"`sources\[\]`: `department, status \(")
    assert report_statuses == {s for s in DepartmentStatus if s not in ("queued", "querying")}
