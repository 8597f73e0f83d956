"""verifier.protojson: plain JSON values from messages and back — proto field names in declaration order,
int64 money as JSON numbers, unset optional fields as null, enums by name, bytes as base64."""

from __future__ import annotations

import base64
import json

import pytest
from assessment_kit import example_report
from google.protobuf import json_format

from hedui.v1 import audit_pb2, consent_pb2, records_pb2, report_pb2, verification_pb2
from verifier.protojson import message_to_plain, plain_to_message

INT64_MAX = 2**63 - 1


def test_fields_come_in_the_order_the_proto_declares_them_with_proto_names() -> None:
    plain = message_to_plain(report_pb2.Report())
    # report.proto's order, which is interfaces.md's top level (after the resource name), then the context
    assert list(plain)[:15] == [
        "name",
        "report_id",
        "verification_id",
        "version",
        "generated_at",
        "policy",
        "members",
        "sources",
        "assessment",
        "flags",
        "hearing_required",
        "filing_for_review_required",
        "changes",
        "next_recheck_date",
        "gradual_exit_until",
    ]
    assert list(plain)[-1] == "html"
    assert "reportId" not in plain and "hearingRequired" not in plain


def test_defaults_are_written_and_unset_optional_fields_are_null() -> None:
    plain = message_to_plain(report_pb2.Report())
    assert (plain["version"], plain["report_id"], plain["hearing_required"], plain["members"]) == (0, "", False, [])
    assert plain["policy"] == {"locality": "", "effective_from": ""}  # a plain sub-message: all its defaults
    assert plain["changes"] is None and plain["next_recheck_date"] is None and plain["html"] is None
    assert plain["assessment"]["income_by_category"] == {}


def test_an_optional_field_set_to_its_default_is_not_null() -> None:
    plain = message_to_plain(report_pb2.Report(next_recheck_date="", changes=report_pb2.ReportChanges()))
    assert plain["next_recheck_date"] == ""
    assert plain["changes"] is not None and plain["changes"]["previous_version"] == 0
    flag = message_to_plain(report_pb2.WarningFlag(code="X"))
    assert flag["id_number"] is None  # the household's warning


def test_int64_money_is_a_json_number_at_its_extremes() -> None:
    assessment = report_pb2.Assessment(annual_income_fen=INT64_MAX, deductions_fen=-(2**63))
    plain = message_to_plain(assessment)
    assert plain["annual_income_fen"] == INT64_MAX and isinstance(plain["annual_income_fen"], int)
    assert plain["deductions_fen"] == -(2**63)
    text = json.dumps(plain)
    assert f'"annual_income_fen": {INT64_MAX}' in text and '"9223372036854775807"' not in text
    # protobuf's own mapping writes int64 as strings: the reason this module exists
    assert json_format.MessageToDict(assessment, preserving_proto_field_name=True)["annual_income_fen"] == str(
        INT64_MAX
    )


def test_maps_are_sorted_by_key_and_keep_int64_values() -> None:
    assessment = report_pb2.Assessment(income_by_category={"wages": 3, "benefits": 2, "other": 1})
    assert list(message_to_plain(assessment)["income_by_category"].items()) == [
        ("benefits", 2),
        ("other", 1),
        ("wages", 3),
    ]


def test_a_oneof_shows_only_the_member_that_is_set() -> None:
    record = records_pb2.DepartmentRecord(
        department="tax",
        tax_income=records_pb2.TaxIncomeRecord(record_id="TX-1", period="2026-01", amount_fen=600_000),
    )
    plain = message_to_plain(record)
    assert list(plain) == ["department", "tax_income"]
    assert plain["tax_income"] == {
        "record_id": "TX-1",
        "id_number": "",
        "period": "2026-01",
        "category": "",
        "amount_fen": 600_000,
    }
    assert message_to_plain(records_pb2.DepartmentRecord(department="x")) == {"department": "x"}


def test_repeated_messages_are_lists_in_order() -> None:
    source = report_pb2.Source(department="banks", not_queried=["b", "a"])
    plain = message_to_plain(report_pb2.Report(sources=[source, report_pb2.Source(department="tax")]))
    assert [s["department"] for s in plain["sources"]] == ["banks", "tax"]
    assert plain["sources"][0]["not_queried"] == ["b", "a"]  # lists keep their order (only maps are sorted)
    assert plain["sources"][0]["answered_at"] is None


def test_enums_by_name_and_bytes_as_base64() -> None:
    verification = message_to_plain(verification_pb2.Verification(state=verification_pb2.Verification.COMPLETED))
    assert verification["state"] == "COMPLETED"
    assert message_to_plain(verification_pb2.Verification())["state"] == "STATE_UNSPECIFIED"
    envelope = message_to_plain(consent_pb2.Envelope(payload=b"\x00\xff{}", payload_type="t"))
    assert envelope["payload"] == base64.b64encode(b"\x00\xff{}").decode("ascii") == "AP97fQ=="
    proof = message_to_plain(audit_pb2.InclusionProof(hashes=[b"\x01", b"\x02\x03"]))
    assert proof["hashes"] == ["AQ==", "AgM="]


def test_an_enum_number_the_proto_does_not_name_is_written_as_the_number() -> None:
    assert message_to_plain(verification_pb2.Verification(state=7))["state"] == 7  # type: ignore[arg-type]


def test_the_example_report_round_trips() -> None:
    report = example_report()
    plain = message_to_plain(report)
    assert plain_to_message(plain, report_pb2.Report()) == report
    assert plain_to_message(json.loads(json.dumps(plain)), report_pb2.Report()) == report  # through JSON text


def test_null_means_unset_at_every_depth() -> None:
    message = plain_to_message(
        {
            "report_id": "r-1",
            "next_recheck_date": None,
            "changes": None,
            "flags": [{"code": "X", "id_number": None}, {"code": "Y", "id_number": "5334"}],
        },
        report_pb2.Report(),
    )
    assert message.report_id == "r-1"
    assert not message.HasField("next_recheck_date") and not message.HasField("changes")
    assert not message.flags[0].HasField("id_number") and message.flags[1].id_number == "5334"


def test_reading_back_fills_and_returns_the_message_given() -> None:
    target = verification_pb2.VerificationRequest()
    given = plain_to_message({"area": "rural", "members": [{"declared_annual_income_fen": INT64_MAX}]}, target)
    assert given is target
    assert target.area == "rural" and target.members[0].declared_annual_income_fen == INT64_MAX
    assert not target.members[0].HasField("signed")


def test_unknown_fields_and_wrong_types_are_errors() -> None:
    with pytest.raises(json_format.ParseError, match="no_such_field"):
        plain_to_message({"no_such_field": 1}, report_pb2.Report())
    with pytest.raises(json_format.ParseError, match="nested_unknown"):
        plain_to_message({"assessment": {"nested_unknown": 1}}, report_pb2.Report())
    with pytest.raises(json_format.ParseError):
        plain_to_message({"version": "one"}, report_pb2.Report())


def test_values_of_other_json_types_are_read_as_protobuf_reads_them() -> None:
    # A number as text, a whole float and a bool where a number goes: read (or refused) by json_format.ParseDict.
    message = plain_to_message({"version": "3", "assessment": {"household_size": 2.0}}, report_pb2.Report())
    assert (message.version, message.assessment.household_size) == (3, 2)
    with pytest.raises(json_format.ParseError):
        plain_to_message({"flags": [None]}, report_pb2.Report())
    with pytest.raises(json_format.ParseError):
        plain_to_message({"sources": [{"department": "tax"}, 7]}, report_pb2.Report())


def test_a_message_given_empty_and_set_present_stays_present() -> None:
    message = plain_to_message({"changes": {}, "policy": {"locality": "533401"}}, report_pb2.Report())
    assert message.HasField("changes") and message.changes == report_pb2.ReportChanges()
    assert message.policy.locality == "533401"


def test_a_message_already_filled_is_merged_into() -> None:
    target = report_pb2.Report(report_id="kept", version=4)
    plain_to_message({"version": 5, "area": "urban"}, target)
    assert (target.report_id, target.version, target.area) == ("kept", 5, "urban")


def test_reading_back_is_the_same_as_protobufs_own_reader_for_the_example_report() -> None:
    plain = message_to_plain(example_report())
    expected = json_format.ParseDict(json.loads(json.dumps(_without_nulls(plain))), report_pb2.Report())
    assert plain_to_message(plain, report_pb2.Report()) == expected


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
