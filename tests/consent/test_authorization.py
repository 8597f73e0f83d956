"""The authorization payload: consent/authorization.py."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from consent.authorization import (
    ALL_DEPARTMENTS,
    AuthorizationError,
    AuthorizationPayload,
    AuthorizedMember,
    authorization_payload,
    parse_authorization_payload,
    require_declared_departments,
    unknown_departments,
)

SIX = ("police", "housing", "tax", "vehicles", "banks", "social_security")  # the departments hedui ships

TODAY = dt.date(2026, 11, 1)
ZHANG = AuthorizedMember("533401197803120118", "张建国")
LI = AuthorizedMember("53340119800605022X", "李秀英")


def body(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "commissioned_by": "533401-civil-affairs",
        "purpose": "ASSESSMENT",
        "members": [{"id_number": ZHANG.id_number, "name": ZHANG.name}, {"id_number": LI.id_number, "name": LI.name}],
        "departments": ["*"],
        "valid_from": "2026-11-01",
        "valid_until": "2027-01-30",
        "evidence": {"channel": "township-office", "fingerprint": "fp-0042"},
    }
    raw.update(overrides)
    return raw


def encode(raw: object) -> bytes:
    return json.dumps(raw, ensure_ascii=False).encode("utf-8")


def error_for(raw: object, today: dt.date = TODAY) -> AuthorizationError:
    with pytest.raises(AuthorizationError) as caught:
        parse_authorization_payload(encode(raw), today, declared=SIX)
    return caught.value


# --- round trip ----------------------------------------------------------------------------------


def test_round_trip() -> None:
    payload = authorization_payload(
        commissioned_by="533401-civil-affairs",
        purpose="RECHECK",
        members=[ZHANG, LI],
        valid_from=dt.date(2026, 11, 1),
        valid_until=dt.date(2027, 10, 31),
        departments=("police", "banks"),
        evidence={"channel": "remote", "video": "vid-7"},
    )
    parsed = parse_authorization_payload(payload, TODAY, declared=SIX)
    assert parsed == AuthorizationPayload(
        commissioned_by="533401-civil-affairs",
        purpose="RECHECK",
        members=(ZHANG, LI),
        departments=("police", "banks"),
        valid_from=dt.date(2026, 11, 1),
        valid_until=dt.date(2027, 10, 31),
        evidence={"channel": "remote", "video": "vid-7"},
    )
    assert parsed.member_ids() == frozenset({ZHANG.id_number, LI.id_number})
    assert parsed.covers_department("banks")
    assert not parsed.covers_department("tax")


def test_payload_bytes_are_deterministic_utf8_json() -> None:
    kwargs: dict[str, Any] = {
        "commissioned_by": "533401-civil-affairs",
        "purpose": "ASSESSMENT",
        "members": [ZHANG],
        "valid_from": dt.date(2026, 11, 1),
        "valid_until": dt.date(2026, 12, 1),
    }
    first = authorization_payload(**kwargs)
    assert first == authorization_payload(**kwargs)
    assert "张建国".encode() in first  # not \u-escaped
    raw = json.loads(first)
    assert raw["departments"] == [ALL_DEPARTMENTS]
    assert raw["evidence"] == {}
    assert list(raw) == sorted(raw)


def test_departments_default_to_all() -> None:
    raw = body()
    del raw["departments"]
    parsed = parse_authorization_payload(encode(raw), TODAY, declared=SIX)
    assert parsed.departments == (ALL_DEPARTMENTS,)
    assert all(
        parsed.covers_department(d) for d in ("police", "housing", "tax", "vehicles", "banks", "social_security")
    )


def test_lower_case_x_is_normalised() -> None:
    raw = body(members=[{"id_number": "53340119800605022x", "name": "李秀英"}])
    assert parse_authorization_payload(encode(raw), TODAY, declared=SIX).members == (LI,)


# --- errors name their field ---------------------------------------------------------------------


def test_duplicated_member() -> None:
    members = [
        {"id_number": ZHANG.id_number, "name": ZHANG.name},
        {"id_number": LI.id_number, "name": LI.name},
        {"id_number": LI.id_number.lower(), "name": "李秀英 (again)"},
    ]
    error = error_for(body(members=members))
    assert error.field == "members[2].id_number"
    assert "duplicated" in error.message


@pytest.mark.parametrize(
    "number",
    ["533401197803120117", "53340119780312011", "533401198002300118", "53340119780312011Y"],
    ids=["check-character", "length", "date", "letter"],
)
def test_bad_identity_number(number: str) -> None:
    members = [{"id_number": ZHANG.id_number, "name": ZHANG.name}, {"id_number": number, "name": "someone"}]
    assert error_for(body(members=members)).field == "members[1].id_number"


def test_missing_member_name() -> None:
    assert error_for(body(members=[{"id_number": ZHANG.id_number, "name": "  "}])).field == "members[0].name"


@pytest.mark.parametrize("members", [[], None, "533401197803120118", {"id_number": ZHANG.id_number}])
def test_members_must_be_a_non_empty_list(members: object) -> None:
    assert error_for(body(members=members)).field == "members"


def test_member_must_be_an_object() -> None:
    assert error_for(body(members=[{"id_number": ZHANG.id_number, "name": "x"}, "x"])).field == "members[1]"


def test_validity_window_in_the_past() -> None:
    error = error_for(body(valid_from="2026-09-01", valid_until="2026-10-31"))
    assert error.field == "valid_until"
    assert "past" in error.message


def test_validity_ending_today_is_accepted() -> None:
    parsed = parse_authorization_payload(
        encode(body(valid_from="2026-10-01", valid_until="2026-11-01")), TODAY, declared=SIX
    )
    assert parsed.valid_until == TODAY


def test_valid_until_before_valid_from() -> None:
    assert error_for(body(valid_from="2026-12-01", valid_until="2026-11-30")).field == "valid_until"


@pytest.mark.parametrize(
    ("purpose", "until_ok", "until_too_long"),
    [
        ("ASSESSMENT", "2027-11-02", "2027-11-03"),  # 366 days
        ("TEMPORARY_ASSISTANCE", "2027-11-02", "2027-11-03"),
        ("RECHECK", "2031-11-05", "2031-11-06"),  # 5 × 366 = 1830 days
    ],
)
def test_longer_than_allowed(purpose: str, until_ok: str, until_too_long: str) -> None:
    ok = parse_authorization_payload(encode(body(purpose=purpose, valid_until=until_ok)), TODAY, declared=SIX)
    assert ok.valid_until == dt.date.fromisoformat(until_ok)
    error = error_for(body(purpose=purpose, valid_until=until_too_long))
    assert error.field == "valid_until"
    assert "longer" in error.message


@pytest.mark.parametrize("value", ["2026-11-1", "01/11/2026", "20261101", "2026-11-01T00:00", "2026-02-30", ""])
def test_bad_dates(value: str) -> None:
    assert error_for(body(valid_from=value)).field == "valid_from"


def test_iso_week_date_is_not_a_calendar_date() -> None:
    # Python 3.11's date.fromisoformat also reads ISO week dates; "2026-W45-1" has 10 characters too.
    assert error_for(body(valid_from="2026-W45-1")).field == "valid_from"


def test_unknown_department() -> None:
    error = error_for(body(departments=["police", "courts"]))
    assert error.field == "departments[1]"
    assert "courts" in error.message


@pytest.mark.parametrize(
    ("departments", "field"),
    [(["police", "Courts"], "departments[1]"), (["tax-office"], "departments[0]"), (["police", 5], "departments[1]")],
)
def test_malformed_department_ids_are_refused_even_when_the_caller_checks_declarations(
    departments: list[object], field: str
) -> None:
    with pytest.raises(AuthorizationError) as caught:
        parse_authorization_payload(encode(body(departments=departments)), TODAY, declared=None)
    assert caught.value.field == field
    assert "is not a department id" in caught.value.message


def test_any_well_formed_department_is_accepted_when_the_service_checks_declarations() -> None:
    raw = body(departments=["police", "market_regulation"])

    parsed = parse_authorization_payload(encode(raw), TODAY, declared=None)

    assert parsed.departments == ("police", "market_regulation")
    assert parsed.covers_department("market_regulation")


def test_a_declared_department_beyond_the_six_is_accepted() -> None:
    declared = ("police", "market_regulation")

    parsed = parse_authorization_payload(encode(body(departments=["market_regulation"])), TODAY, declared=declared)

    assert parsed.departments == ("market_regulation",)
    error = error_for_declared(body(departments=["market_regulation", "tax"]), declared)
    assert (error.field, error.message) == ("departments[1]", "unknown department 'tax'")


def error_for_declared(raw: object, declared: tuple[str, ...]) -> AuthorizationError:
    with pytest.raises(AuthorizationError) as caught:
        parse_authorization_payload(encode(raw), TODAY, declared=declared)
    return caught.value


def test_unknown_departments_are_those_the_catalogue_does_not_declare_in_the_payloads_order() -> None:
    parsed = parse_authorization_payload(
        encode(body(departments=["courts", "police", "weather"])), TODAY, declared=None
    )
    catalogue = ("police", "housing", "tax", "vehicles", "banks", "social_security", "market_regulation")

    assert unknown_departments(parsed, catalogue) == ("courts", "weather")
    assert unknown_departments(parsed, ("courts", "police", "weather")) == ()


def test_all_departments_names_no_unknown_department() -> None:
    parsed = parse_authorization_payload(encode(body(departments=["*"])), TODAY, declared=None)

    assert unknown_departments(parsed, ()) == ()
    require_declared_departments(parsed, ())


def test_require_declared_departments_names_the_first_unknown_one_as_the_parser_did() -> None:
    raw = body(departments=["police", "courts", "weather"])
    parsed = parse_authorization_payload(encode(raw), TODAY, declared=None)

    with pytest.raises(AuthorizationError) as caught:
        require_declared_departments(parsed, ("police", "tax"))

    assert caught.value.field == "departments[1]"
    assert caught.value.message == "unknown department 'courts'"
    assert str(error_for(body(departments=["police", "courts"]))) == str(caught.value)


@pytest.mark.parametrize("departments", [[], "police", None])
def test_departments_must_be_a_non_empty_list(departments: object) -> None:
    assert error_for(body(departments=departments)).field == "departments"


def test_unknown_field() -> None:
    error = error_for(body(signature_image="...", applicant="x"))
    assert error.field == "applicant"  # the first unknown field in sorted order
    assert error.message == "unknown field"


@pytest.mark.parametrize("purpose", ["assessment", "SUBSIDY", ""])
def test_wrong_purpose(purpose: str) -> None:
    assert error_for(body(purpose=purpose)).field == "purpose"


@pytest.mark.parametrize("missing", ["commissioned_by", "purpose", "valid_from", "valid_until"])
def test_missing_required_field(missing: str) -> None:
    raw = body()
    del raw[missing]
    assert error_for(raw).field == missing


@pytest.mark.parametrize("evidence", [[], "paper", {"channel": 1}])
def test_evidence_must_be_an_object_of_strings(evidence: object) -> None:
    assert error_for(body(evidence=evidence)).field == "evidence"


@pytest.mark.parametrize("payload", [b"\xff\xfe", b"{not json", b"[1, 2]", b'"text"'])
def test_payload_not_a_json_object(payload: bytes) -> None:
    with pytest.raises(AuthorizationError) as caught:
        parse_authorization_payload(payload, TODAY, declared=SIX)
    assert caught.value.field == "envelope.payload"


def test_error_message_carries_the_field() -> None:
    error = error_for(body(purpose="SUBSIDY"))
    assert str(error).startswith("purpose: ")
