"""Department records: connectors/records.py."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.departments import DepartmentCatalogue
from connectors.records import (
    AccountRecord,
    BenefitRecord,
    ContributionRecord,
    DepartmentRecord,
    PersonRecord,
    PropertyRecord,
    RecordError,
    TaxIncomeRecord,
    VehicleRecord,
    is_about,
    parse_record,
    record_from_plain,
    record_to_plain,
    records_about,
    registers_of,
)

ZHANG = "533401197803120118"


def tax(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "record_id": "TX-2026-01",
        "id_number": ZHANG,
        "period": "2026-01",
        "category": "wages",
        "amount_fen": 150000,
    }
    raw.update(overrides)
    return raw


def prop(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "record_id": "RE-0001",
        "owner_id": ZHANG,
        "usage": "residential",
        "area_m2": 62.5,
        "value_fen": 32000000,
        "acquired": "2009-05-01",
        "disposed": None,
    }
    raw.update(overrides)
    return raw


def error_for(cls: type[DepartmentRecord], raw: object, path: str = "tax.income[0]") -> RecordError:
    with pytest.raises(RecordError) as caught:
        parse_record(cls, raw, path)
    return caught.value


POLICE, TAX = DepartmentCatalogue()["police"], DepartmentCatalogue()["tax"]


# --- valid records -------------------------------------------------------------------------------


def test_tax_income_record() -> None:
    record = parse_record(TaxIncomeRecord, tax(), "tax.income[0]")
    assert record == TaxIncomeRecord("TX-2026-01", ZHANG, "2026-01", "wages", 150000)
    assert record.subject == ZHANG
    # A record is typed by its kind; which department supplied it is the answer's, not the record's.
    assert record.kind == "tax_income" and not hasattr(record, "department")


def test_property_record_with_optional_dates() -> None:
    record = parse_record(PropertyRecord, prop(), "housing.properties[0]")
    assert isinstance(record, PropertyRecord)
    assert record.area_m2 == 62.5
    assert record.disposed is None
    assert record.subject == ZHANG
    minimal = {k: v for k, v in prop().items() if k not in ("acquired", "disposed")}
    assert parse_record(PropertyRecord, minimal, "p") == PropertyRecord("RE-0001", ZHANG, "residential", 62.5, 32000000)


def test_integer_area_is_read_as_a_float() -> None:
    record = parse_record(PropertyRecord, prop(area_m2=60), "p")
    assert isinstance(record, PropertyRecord)
    assert record.area_m2 == 60.0
    assert isinstance(record.area_m2, float)


def test_wire_name_kind_maps_to_the_account_kind() -> None:
    raw = {
        "record_id": "BK-0001",
        "id_number": ZHANG,
        "institution": "农村信用社",
        "kind": "deposit",
        "balance_fen": 1250000,
        "as_of": "2026-10-31",
    }
    record = parse_record(AccountRecord, raw, "banks.accounts[0]")
    assert isinstance(record, AccountRecord)
    assert record.account_kind == "deposit"
    assert record_to_plain(record) == raw
    assert record_from_plain("account", raw) == record


def test_benefit_kind_is_free_text() -> None:
    raw = {"record_id": "B1", "id_number": ZHANG, "period": "2026-03", "kind": "disability_allowance", "amount_fen": 1}
    record = parse_record(BenefitRecord, raw, "b")
    assert isinstance(record, BenefitRecord)
    assert record.kind_of_benefit == "disability_allowance"


def test_nullable_employer_may_be_omitted_or_null() -> None:
    raw = {
        "record_id": "SS-1",
        "id_number": ZHANG,
        "period": "2026-03",
        "scheme": "urban_rural_resident",
        "base_fen": 0,
        "employer_part_fen": 0,
        "personal_part_fen": 20000,
    }
    omitted = parse_record(ContributionRecord, raw, "c")
    assert parse_record(ContributionRecord, {**raw, "employer": None}, "c") == omitted
    assert isinstance(omitted, ContributionRecord)
    assert omitted.employer is None


def test_person_status_date_is_optional() -> None:
    raw = {
        "record_id": "H1:x",
        "id_number": ZHANG,
        "name": "张建国",
        "hukou_id": "H1",
        "relation_to_head": "head",
        "status": "deceased",
        "status_date": "2025-02-14",
    }
    record = parse_record(PersonRecord, raw, "police.persons[0]")
    assert isinstance(record, PersonRecord)
    assert record.status_date == "2025-02-14"


def test_plain_round_trip() -> None:
    record = parse_record(TaxIncomeRecord, tax(), "t")
    assert record_from_plain("tax_income", record_to_plain(record)) == record


def test_unknown_record_kind() -> None:
    with pytest.raises(RecordError) as caught:
        record_from_plain("salary", tax())
    assert caught.value.path == "salary"


# --- errors name the path ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, -150000])
def test_negative_money(value: int) -> None:
    error = error_for(TaxIncomeRecord, tax(amount_fen=value))
    assert error.path == "tax.income[0].amount_fen"
    assert "negative" in error.message


def test_zero_money_is_fine() -> None:
    record = parse_record(TaxIncomeRecord, tax(amount_fen=0), "t")
    assert isinstance(record, TaxIncomeRecord)
    assert record.amount_fen == 0


@pytest.mark.parametrize("value", [1500.5, 150000.0, "150000", True, None, [150000]])
def test_money_must_be_an_integer(value: object) -> None:
    assert error_for(TaxIncomeRecord, tax(amount_fen=value)).path == "tax.income[0].amount_fen"


def test_money_out_of_range() -> None:
    assert error_for(TaxIncomeRecord, tax(amount_fen=10**16)).path == "tax.income[0].amount_fen"


@pytest.mark.parametrize("value", [-0.5, "62.5", True])
def test_bad_area(value: object) -> None:
    assert (
        error_for(PropertyRecord, prop(area_m2=value), "housing.properties[3]").path == "housing.properties[3].area_m2"
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_area(value: float) -> None:
    # json.loads reads NaN and Infinity; neither is an area.
    error = error_for(PropertyRecord, prop(area_m2=value), "housing.properties[0]")
    assert error.path == "housing.properties[0].area_m2"


@pytest.mark.parametrize("value", [533401197803120118, None, ["x"]])
def test_strings_must_be_strings(value: object) -> None:
    assert error_for(TaxIncomeRecord, tax(id_number=value)).path == "tax.income[0].id_number"


def test_text_too_long() -> None:
    assert error_for(TaxIncomeRecord, tax(record_id="R" * 501)).path == "tax.income[0].record_id"


def test_empty_record_id() -> None:
    assert error_for(TaxIncomeRecord, tax(record_id="")).path == "tax.income[0].record_id"


def test_unknown_field() -> None:
    error = error_for(TaxIncomeRecord, tax(currency="CNY", comment="x"))
    assert error.path == "tax.income[0].comment"
    assert error.message == "unknown field"


def test_internal_field_name_is_not_accepted_on_the_wire() -> None:
    raw = {"record_id": "B1", "id_number": ZHANG, "period": "2026-03", "kind_of_benefit": "x", "amount_fen": 1}
    assert error_for(BenefitRecord, raw, "b").path == "b.kind_of_benefit"


def test_missing_field() -> None:
    raw = tax()
    del raw["period"]
    error = error_for(TaxIncomeRecord, raw)
    assert error.path == "tax.income[0].period"
    assert "required" in error.message


@pytest.mark.parametrize("raw", [[], "record", None, 5])
def test_record_must_be_an_object(raw: object) -> None:
    assert error_for(TaxIncomeRecord, raw).path == "tax.income[0]"


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-1", "202601", "2026-01-01", "26-01", "", "2026/01"])
def test_bad_period(period: str) -> None:
    error = error_for(TaxIncomeRecord, tax(period=period))
    assert error.path == "tax.income[0].period"


def test_period_with_trailing_newline_is_rejected() -> None:
    # ``$`` in a Python regex also matches before a final newline.
    assert error_for(TaxIncomeRecord, tax(period="2026-01\n")).path == "tax.income[0].period"


@pytest.mark.parametrize("date", ["2009-02-30", "2009-5-1", "20090501", "2009-05-01T00:00:00", "01/05/2009", ""])
def test_bad_date(date: str) -> None:
    error = error_for(PropertyRecord, prop(acquired=date), "housing.properties[0]")
    assert error.path == "housing.properties[0].acquired"


def test_iso_week_date_is_rejected() -> None:
    # Python 3.11's date.fromisoformat also reads "2009-W18-5": ten characters, but not YYYY-MM-DD.
    error = error_for(PropertyRecord, prop(acquired="2009-W18-5"), "housing.properties[0]")
    assert error.path == "housing.properties[0].acquired"


@pytest.mark.parametrize(
    ("cls", "raw", "path"),
    [
        (TaxIncomeRecord, tax(category="salary"), "t.category"),
        (TaxIncomeRecord, tax(category="Wages"), "t.category"),
        (PropertyRecord, prop(usage="farm"), "t.usage"),
        (
            VehicleRecord,
            {"record_id": "V", "owner_id": ZHANG, "plate": "P", "type": "bus", "use": "private", "value_fen": 1},
            "t.type",
        ),
        (
            VehicleRecord,
            {"record_id": "V", "owner_id": ZHANG, "plate": "P", "type": "car", "use": "rental", "value_fen": 1},
            "t.use",
        ),
        (
            AccountRecord,
            {
                "record_id": "A",
                "id_number": ZHANG,
                "institution": "I",
                "kind": "crypto",
                "balance_fen": 1,
                "as_of": "2026-10-31",
            },
            "t.kind",
        ),
        (
            PersonRecord,
            {
                "record_id": "P",
                "id_number": ZHANG,
                "name": "n",
                "hukou_id": "H",
                "relation_to_head": "head",
                "status": "alive",
            },
            "t.status",
        ),
    ],
)
def test_vocabulary(cls: type[DepartmentRecord], raw: dict[str, Any], path: str) -> None:
    error = error_for(cls, raw, "t")
    assert error.path == path
    assert "is not one of" in error.message


# --- who a record is about ----------------------------------------------------------------------------

SPOUSE, CHILD, NEIGHBOUR = "53340119800605022X", "533401200809110310", "533401194501010411"


def person(id_number: str, register: str) -> PersonRecord:
    return PersonRecord(
        record_id=f"{register}:{id_number}",
        id_number=id_number,
        name="某",
        hukou_id=register,
        relation_to_head="other",
        status="active",
    )


def test_police_answers_carry_the_household_registers_of_the_people_asked_about() -> None:
    records = [person(ZHANG, "H1"), person(SPOUSE, "H1"), person(CHILD, "H1"), person(NEIGHBOUR, "H2")]
    assert registers_of(records, {ZHANG}) == {"H1"}
    about = records_about(POLICE, records, [ZHANG])
    assert [r.id_number for r in about] == [ZHANG, SPOUSE, CHILD]  # type: ignore[union-attr]
    assert records_about(POLICE, records, [NEIGHBOUR]) == (records[3],)
    assert records_about(POLICE, records, ["110105194912310021"]) == ()


def test_register_mates_count_only_in_a_police_answer() -> None:
    records = [person(ZHANG, "H1"), person(SPOUSE, "H1")]
    assert not is_about(TAX, records[1], {ZHANG}, registers_of(records, {ZHANG}))
    assert records_about(TAX, records, [ZHANG]) == (records[0],)
    income = TaxIncomeRecord(record_id="T1", id_number=SPOUSE, period="2026-01", category="wages", amount_fen=1)
    # Other departments' records are about their subject only, even in a police answer.
    assert records_about(POLICE, [*records, income], [ZHANG]) == tuple(records)
