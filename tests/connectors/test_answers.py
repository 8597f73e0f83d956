"""What hedui accepts from a department: connectors/answers.py, one test per refusal."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from connectors.answers import MAX_RECORDS_PER_ANSWER, AnswerRejected, check_answer
from connectors.base import DepartmentAnswer
from connectors.departments import Department, DepartmentCatalogue, RecordKind
from connectors.records import DepartmentRecord, EnterpriseRecord, PersonRecord, TaxIncomeRecord

ZHANG = "533401197803120118"
STRANGER = "110101199003077774"
MATE = "110101199003070732"  # a valid number (check character 2) nobody asked about
CATALOGUE = DepartmentCatalogue()
TAX = CATALOGUE["tax"]
POLICE = CATALOGUE["police"]
MARKET = Department("market_regulation", "市场监督管理部门", "Market regulation", frozenset({RecordKind.ENTERPRISE}))
# A department that answers person records besides the police: it may add register mates too.
REGISTER = Department("hukou_office", "户籍室", "Household register office", frozenset({RecordKind.PERSON}))


def wages(record_id: str = "T1", who: str = ZHANG, amount: int = 300_000) -> TaxIncomeRecord:
    return TaxIncomeRecord(record_id=record_id, id_number=who, period="2026-03", category="wages", amount_fen=amount)


def enterprise(record_id: str = "E1", who: str = ZHANG) -> EnterpriseRecord:
    return EnterpriseRecord(record_id=record_id, id_number=who, enterprise="某某商贸有限公司", role="shareholder")


def person(who: str, hukou: str = "H1", record_id: str | None = None) -> PersonRecord:
    return PersonRecord(
        record_id=record_id or f"{hukou}:{who}",
        id_number=who,
        name="张三",
        hukou_id=hukou,
        relation_to_head="head",
        status="active",
    )


def answer(department: str, *records: DepartmentRecord) -> DepartmentAnswer:
    return DepartmentAnswer(department, tuple(records), dt.datetime(2026, 11, 23, tzinfo=dt.UTC))


def rejection(department: Department, asked: list[str], reply: DepartmentAnswer) -> str:
    with pytest.raises(AnswerRejected) as caught:
        check_answer(department, asked, reply)
    return str(caught.value)


def test_a_valid_answer_passes() -> None:
    check_answer(TAX, [ZHANG], answer("tax", wages("T1"), wages("T2"), enterprise()))
    check_answer(TAX, [ZHANG], answer("tax"))


def test_an_answer_labelled_with_another_department_is_refused() -> None:
    assert rejection(TAX, [ZHANG], answer("housing", wages())) == "answer is labelled 'housing'"


def test_more_than_the_maximum_of_records_is_refused() -> None:
    records = [wages(f"T{i}") for i in range(MAX_RECORDS_PER_ANSWER + 1)]
    assert rejection(TAX, [ZHANG], answer("tax", *records)) == "more than 10000 records"


def test_a_record_of_a_kind_the_department_does_not_declare_is_refused() -> None:
    assert rejection(MARKET, [ZHANG], answer("market_regulation", wages())) == (
        "record T1 is of kind tax_income, which market_regulation does not declare"
    )
    assert "of kind person, which tax does not declare" in rejection(TAX, [ZHANG], answer("tax", person(ZHANG)))


def test_a_new_department_answers_with_the_kinds_it_declares() -> None:
    check_answer(MARKET, [ZHANG], answer("market_regulation", enterprise()))


def test_duplicate_record_ids_are_refused() -> None:
    assert rejection(TAX, [ZHANG], answer("tax", wages("T1"), wages("T1"))) == "duplicate record id T1"


def test_an_invalid_field_is_refused_with_the_field() -> None:
    message = rejection(TAX, [ZHANG], answer("tax", wages(amount=-5)))
    assert message == "record T1: tax_income.amount_fen: must not be negative, got -5"
    bad_period = dataclasses.replace(wages(), period="March")
    assert "tax_income.period: 'March' is not a period YYYY-MM" in rejection(TAX, [ZHANG], answer("tax", bad_period))


def test_an_invalid_identity_number_is_refused() -> None:
    wrong_check = ZHANG[:-1] + "9"
    assert rejection(TAX, [wrong_check], answer("tax", wages(who=wrong_check))) == (
        "record T1 names an invalid identity number"
    )


def test_a_record_about_someone_not_asked_about_is_refused() -> None:
    assert rejection(TAX, [ZHANG], answer("tax", wages("T9", who=STRANGER))) == (
        "record T9 is about a person not asked about"
    )


def test_only_a_department_answering_person_records_may_add_register_mates() -> None:
    mates = answer("police", person(ZHANG), person(MATE))
    check_answer(POLICE, [ZHANG], mates)
    check_answer(REGISTER, [ZHANG], dataclasses.replace(mates, department="hukou_office"))
    # A mate of another register is not about anyone asked about, even for the police.
    other = answer("police", person(ZHANG), person(MATE, hukou="H2"))
    assert "is about a person not asked about" in rejection(POLICE, [ZHANG], other)
    # Market regulation declares no person records: a person record is refused for its kind first.
    market = answer("market_regulation", enterprise(), person(MATE))
    assert "is of kind person" in rejection(MARKET, [ZHANG], market)
