"""The typed report: built directly from the assessment, its JSON the fixture's byte for byte (the encoding reports had
before they were typed, plus the deduction notes' code and Chinese text), its digest stable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from assessment_kit import ANSWERED, APPLICANT, MARKET_REGULATION, enterprise, example_report, member, request, sources

from hedui.v1 import records_pb2, report_pb2
from verifier.assessment import assess
from verifier.policy import default_policy
from verifier.report.build import (
    build_report,
    encode_report,
    report_digest,
    report_from_plain,
    report_json,
    report_name,
    report_plain,
)

FIXTURE = Path(__file__).parent / "data" / "household-zhang.report.json"
# SHA-256 of the fixture's canonical JSON (sorted keys, no spaces, UTF-8), computed from the file with the standard
# library alone: what REPORT_CREATED records for this report.
FIXTURE_DIGEST = "ac8b56512f21a36c35531693cfd3f95ff77fd1a936ed5c72cb0d00619657cfc9"


def test_report_json_is_the_fixture_byte_for_byte() -> None:
    assert report_json(example_report()) == FIXTURE.read_text(encoding="utf-8")


def test_report_digest_is_stable_and_is_the_canonical_json_of_the_same_value() -> None:
    report = example_report()
    assert report_digest(report) == FIXTURE_DIGEST
    assert report_digest(report) == report_digest(example_report())
    plain = json.loads(report_json(report))
    assert report_digest(plain) == FIXTURE_DIGEST
    canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert hashlib.sha256(canonical).hexdigest() == FIXTURE_DIGEST


def test_encode_report_gives_the_fixture_and_its_digest_from_one_conversion() -> None:
    encoded = encode_report(example_report())
    assert encoded.json == FIXTURE.read_text(encoding="utf-8")
    assert encoded.sha256 == FIXTURE_DIGEST


def test_the_json_value_reads_back_into_the_same_report() -> None:
    report = example_report()
    assert report_from_plain(report_plain(report)) == report


def test_unset_optional_fields_are_null_and_a_second_version_names_the_first() -> None:
    first = report_plain(example_report())
    assert (first["changes"], first["previous_version"], first["html"], first["next_recheck_date"]) == (
        None,
        None,
        None,
        None,
    )
    assert [f.get("id_number") for f in first["flags"]] == []  # the example household raises no warning
    second = example_report(version=2)
    assert second.previous_version == report_name("v-zhang", 1) == "verifications/v-zhang/reports/1"
    assert second.name == "verifications/v-zhang/reports/2"


def test_records_carry_the_department_that_supplied_them() -> None:
    req = request(member(APPLICANT))
    srcs = sources({"market_regulation": [enterprise(APPLICANT)]})
    result = assess(req, default_policy(), srcs, catalogue=MARKET_REGULATION)
    report = build_report(
        report_id="r-1",
        verification_id="v-1",
        version=1,
        generated_at=ANSWERED,
        request=req,
        policy=default_policy(),
        sources=srcs,
        result=result,
        authorizations=[],
        audit_reference="",
    )
    [record] = [r for r in report.members[0].records if r.WhichOneof("record") == "enterprise"]
    assert record.department == "market_regulation" and record.enterprise.role == "legal_representative"
    assert [s.department for s in report.sources][-1] == "vehicles"  # by department id
    [flag] = report.flags
    assert (flag.code, flag.department, flag.HasField("id_number")) == (
        "BUSINESS_REGISTERED",
        "market_regulation",
        True,
    )


@pytest.mark.parametrize("area", [89.5, 0.0, 120.0, 1e-5, 2.5e-7, 1e16, 3.2e17, 12345678901234.5])
@pytest.mark.parametrize("name", ["张三", 'a "quoted"\nname\u2028', "tab\there"])
def test_the_digest_is_json_s_canonical_bytes_whatever_the_floats_and_escapes(area: float, name: str) -> None:
    """The digest is taken with orjson where its bytes are json's: floats json writes with an exponent (orjson
    writes some of them otherwise) and strings that need escapes go to json, so the digest never depends on it."""
    record = records_pb2.PropertyRecord(record_id="p1", owner_id="110101199001011234", area_m2=area, value_fen=1)
    report = report_pb2.Report(
        report_id="r",
        members=[
            report_pb2.MemberReport(
                name=name,
                income_by_category={"wages": 2**62, "other": -1},
                records=[records_pb2.DepartmentRecord(department="housing", property=record)],
            )
        ],
    )
    plain = report_plain(report)
    canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert encode_report(report).sha256 == hashlib.sha256(canonical).hexdigest() == report_digest(report)
