"""The records lookup: typed, only usable records, and the department that supplied each."""

from __future__ import annotations

from assessment_kit import (
    APPLICANT,
    MARKET_REGULATION,
    SPOUSE,
    context,
    enterprise,
    member,
    person,
    request,
    sources,
    tax,
)

from connectors.departments import RecordKind
from connectors.records import EnterpriseRecord, PersonRecord, TaxIncomeRecord
from verifier.assessment.flags import Evidence


def test_records_are_the_type_asked_for_ordered_by_record_id() -> None:
    later, earlier = tax(APPLICANT, "2026-02", 10, rid="TX-2"), tax(APPLICANT, "2026-01", 20, rid="TX-1")
    ctx = context(srcs=sources({"tax": [later, enterprise(APPLICANT), earlier]}))
    found = ctx.records(TaxIncomeRecord)
    assert found == [earlier, later]
    assert all(type(r) is TaxIncomeRecord for r in found)
    assert ctx.records(EnterpriseRecord) == [enterprise(APPLICANT)]


def test_records_about_one_member_and_in_the_window() -> None:
    inside, outside = tax(APPLICANT, "2026-10", 1), tax(APPLICANT, "2026-11", 2)  # window 2025-11 .. 2026-10
    other = tax(SPOUSE, "2026-10", 3)
    req = request(member(APPLICANT), member(SPOUSE))
    ctx = context(req, sources({"tax": [inside, outside, other]}, persons=[person(APPLICANT), person(SPOUSE)]))
    assert ctx.records(TaxIncomeRecord, SPOUSE) == [other]
    assert ctx.in_window(TaxIncomeRecord, APPLICANT) == [inside]


def test_records_of_a_member_not_queried_there_are_never_used() -> None:
    # The tax answer for the applicant also carried a record about the spouse, who gave no consent for tax.
    req = request(member(APPLICANT), member(SPOUSE))
    srcs = sources(
        {"tax": [tax(APPLICANT, "2026-01", 1), tax(SPOUSE, "2026-01", 2)]},
        not_queried={"tax": (SPOUSE,)},
        persons=[person(APPLICANT), person(SPOUSE)],
    )
    ctx = context(req, srcs)
    assert [r.id_number for r in ctx.records(TaxIncomeRecord)] == [APPLICANT]
    assert [type(s.record) for s in ctx.about(SPOUSE)] == [PersonRecord]  # the police record only


def test_records_of_a_department_that_did_not_answer_are_not_used() -> None:
    srcs = sources({"tax": [tax(APPLICANT, "2026-01", 1)]}, statuses={"tax": "unavailable"})
    assert context(srcs=srcs).records(TaxIncomeRecord) == []


def test_the_supplier_is_the_department_whose_answer_brought_the_record() -> None:
    record = enterprise(APPLICANT)
    ctx = context(srcs=sources({"market_regulation": [record]}), catalogue=MARKET_REGULATION)
    assert ctx.supplier(record) == "market_regulation"
    assert ctx.evidence(record, "role", record.role) == Evidence(
        "market_regulation", "EN-1", "role", "legal_representative"
    )
    assert ctx.about(APPLICANT)[1].department == "police"  # by department id: market_regulation < police
    assert ctx.about(APPLICANT)[0].department == "market_regulation"


def test_answering_follows_the_catalogue_declarations() -> None:
    srcs = sources({"market_regulation": [enterprise(APPLICANT)]}, statuses={"tax": "unavailable"})
    ctx = context(srcs=srcs, catalogue=MARKET_REGULATION)
    assert [s.department for s in ctx.answering(RecordKind.ENTERPRISE)] == ["market_regulation", "tax"]
    assert ctx.answered(RecordKind.ENTERPRISE)  # market regulation answered, tax did not
    assert not context(srcs=srcs).answered(RecordKind.ENTERPRISE)  # undeclared: only tax answers with them


def test_department_of_a_household_warning() -> None:
    a, b = enterprise(APPLICANT, rid="EN-1"), enterprise(APPLICANT, rid="EN-2")
    ctx = context(srcs=sources({"market_regulation": [a], "tax": [b]}), catalogue=MARKET_REGULATION)
    assert ctx.department_of([a, b], RecordKind.ENTERPRISE) == "tax"  # catalogue order: the defaults first
    assert ctx.department_of([a], RecordKind.ENTERPRISE) == "market_regulation"
    assert ctx.department_of([], RecordKind.ACCOUNT) == "banks"  # no record: the first declared for the kind
