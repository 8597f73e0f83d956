"""Issue 13 (input): every invalid input the issue lists is refused with INVALID_ARGUMENT naming the field, over
gRPC on SQLite and PostgreSQL; nothing is echoed in full; docs/api.md's table is the code's."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from harness import REPO, Harness, error_details, example_request

from consent import AUTHORIZATION_PAYLOAD_TYPE, EnvelopeSignature, sign_envelope
from consent.envelope import Envelope
from hedui.v1 import audit_pb2, consent_pb2, verification_pb2
from verifier.api import envelope_message
from verifier.cli._common import UsageError, read_json
from verifier.limits import limits_table
from verifier.request import parse_request

REQUEST = parse_request(example_request())
APPLICANT = REQUEST.members[0].id_number
BAD_CHARACTERS = {"NUL": "\x00", "ESC": "\x1b", "RLO": "\u202e"}


def test_the_documented_limits_are_the_code_s() -> None:
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("## Input limits", 1)[1].split("\n## ", 1)[0]
    assert limits_table() in section, "docs/api.md's Input limits table differs; the table is:\n" + limits_table()


async def refused(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, list[str], str]:
    """(code, reason, the fields violated, everything the refusal says)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    reason, violations = error_details(caught.value)
    said = " ".join([caught.value.details() or "", *(f"{f} {d}" for f, d in violations)])
    return caught.value.code(), reason, [f for f, _ in violations], said


def payload(**changes: Any) -> bytes:
    """The example household's authorization payload with ``changes`` made to its JSON."""
    today = dt.date.today()
    body: dict[str, Any] = {
        "commissioned_by": REQUEST.commissioned_by,
        "purpose": "ASSESSMENT",
        "members": [{"id_number": m.id_number, "name": m.name} for m in REQUEST.members],
        "departments": ["*"],
        "valid_from": today.isoformat(),
        "valid_until": (today + dt.timedelta(days=30)).isoformat(),
        "evidence": {"kind": "paper_form"},
    }
    body.update(changes)
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


async def register(h: Harness, envelope: Envelope) -> Any:
    return await h.consent.RegisterAuthorization(
        consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(envelope)), metadata=h.metadata
    )


def signed(h: Harness, data: bytes) -> Envelope:
    return sign_envelope(data, AUTHORIZATION_PAYLOAD_TYPE, (h.key,))


def member_named(name: str) -> list[dict[str, str]]:
    return [{"id_number": APPLICANT, "name": name}]


SIGNED_PAYLOADS: list[Any] = [
    *(
        pytest.param(payload(members=member_named(f"张{c}伟")), "envelope.payload.members[0].name", id=f"name-{n}")
        for n, c in BAD_CHARACTERS.items()
    ),
    *(
        pytest.param(payload(evidence={"kind": f"paper{c}form"}), "envelope.payload.evidence", id=f"evidence-{n}")
        for n, c in BAD_CHARACTERS.items()
    ),
    pytest.param(payload(members=member_named("张" * 101)), "envelope.payload.members[0].name", id="long-name"),
    pytest.param(
        payload(members=[{"id_number": APPLICANT, "name": "张"}] * 31), "envelope.payload.members", id="31-members"
    ),
    pytest.param(
        payload(members=[{"id_number": APPLICANT, "name": "张"}] * 19_987), "envelope.payload", id="19987-members"
    ),
    pytest.param(payload(evidence={"scan": "x" * 3_000_000}), "envelope.payload", id="3MB-evidence"),
    pytest.param(payload(members=member_named("张" * 1_000_000)), "envelope.payload", id="1M-name"),
    pytest.param(payload(evidence={"scan": "x" * 1025}), "envelope.payload.evidence", id="long-evidence"),
    pytest.param(payload(evidence={str(i): "x" for i in range(17)}), "envelope.payload.evidence", id="17-evidence"),
    pytest.param(payload(departments=["tax"] * 65), "envelope.payload.departments", id="65-departments"),
    pytest.param(payload(commissioned_by="533401\x00civil"), "envelope.payload.commissioned_by", id="org-NUL"),
    pytest.param(payload(signed_at="0001-01-01T00:00:00+14:00"), "envelope.payload.signed_at", id="year-1"),
    pytest.param(payload(signed_at="9999-12-31T23:59:59-14:00"), "envelope.payload.signed_at", id="year-9999"),
    pytest.param(payload(valid_from="0001-01-01"), "envelope.payload.valid_from", id="valid-from-year-1"),
    pytest.param(b"[" * 100_000, "envelope.payload", id="nested-100000"),
    pytest.param(b"[" * 60_000, "envelope.payload", id="nested-60000-within-the-size"),
    pytest.param(payload(evidence={"a": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}), "envelope.payload", id="deep-17"),
]


@pytest.mark.parametrize(("data", "field"), SIGNED_PAYLOADS)
async def test_a_signed_payload_beyond_the_limits_is_refused_naming_the_field(
    harness: Harness, data: bytes, field: str
) -> None:
    code, _, fields, said = await refused(register(harness, signed(harness, data)))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
    assert APPLICANT not in said and "\x00" not in said


ENVELOPES: list[Any] = [
    pytest.param(lambda e: dataclasses.replace(e, payload=b"[" * 60_000), "envelope.signatures", id="unsigned-deep"),
    pytest.param(
        lambda e: dataclasses.replace(e, signatures=(EnvelopeSignature("ab\x00cd", b"x"),)),
        "envelope.signatures[0].keyid",
        id="keyid-NUL",
    ),
    pytest.param(
        lambda e: dataclasses.replace(e, signatures=e.signatures * 9), "envelope.signatures", id="9-signatures"
    ),
    pytest.param(
        lambda e: dataclasses.replace(e, signatures=(EnvelopeSignature(e.signatures[0].keyid, b"s" * 4096),)),
        "envelope.signatures[0].sig",
        id="4KiB-signature",
    ),
]


@pytest.mark.parametrize(("change", "field"), ENVELOPES)
async def test_an_envelope_beyond_the_limits_is_refused_before_the_database(
    harness: Harness, change: Callable[[Envelope], Envelope], field: str
) -> None:
    code, _, fields, _ = await refused(register(harness, change(signed(harness, payload()))))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


async def test_an_identity_number_pasted_as_a_key_id_is_not_echoed(harness: Harness) -> None:
    pasted = dataclasses.replace(signed(harness, payload()), signatures=(EnvelopeSignature(APPLICANT, b"x" * 64),))
    code, reason, fields, said = await refused(register(harness, pasted))
    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_SIGNATURE", ["envelope.signatures"])
    assert APPLICANT not in said and f"{APPLICANT[:6]}********{APPLICANT[-4:]}" in said


def request_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    raw = example_request()
    change(raw)
    return raw


REQUESTS: list[Any] = [
    *(
        pytest.param(
            request_with(lambda r, c=c: r["members"][0].update(name=f"张{c}国")),
            "request.members[0].name",
            id=f"name-{n}",
        )
        for n, c in BAD_CHARACTERS.items()
    ),
    *(
        pytest.param(
            request_with(lambda r, c=c: r["deductions"][0].update(evidence=f"bill{c}42")),
            "request.deductions[0].evidence",
            id=f"evidence-{n}",
        )
        for n, c in BAD_CHARACTERS.items()
    ),
    pytest.param(
        request_with(lambda r: r["members"][0].update(name="张" * 1_000_000)), "request.members[0].name", id="1M-name"
    ),
    pytest.param(
        request_with(lambda r: r.update(deductions=r["deductions"][:1] * 101)),
        "request.deductions",
        id="101-deductions",
    ),
    pytest.param(request_with(lambda r: r.update(policy="p\x00")), "request.policy", id="policy-NUL"),
    pytest.param(request_with(lambda r: r.update(commissioned_by="x\x00")), "request.commissioned_by", id="org-NUL"),
]


@pytest.mark.parametrize(("raw", "field"), REQUESTS)
async def test_a_request_beyond_the_limits_is_refused_naming_the_field(
    harness: Harness, raw: dict[str, Any], field: str
) -> None:
    auth = await register(harness, harness.envelope(REQUEST))
    code, _, fields, said = await refused(harness.create(raw, [auth.name]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and field in fields
    assert APPLICANT not in said


async def test_too_many_authorizations_are_refused(harness: Harness) -> None:
    names = [f"authorizations/a{i}" for i in range(17)]
    code, _, fields, _ = await refused(harness.create(example_request(), names))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["authorizations"])


async def test_list_filters_with_nul_or_controls_are_refused_before_the_database(harness: Harness) -> None:
    h = harness
    calls: list[tuple[Awaitable[Any], str]] = [
        (
            h.verifications.ListVerifications(verification_pb2.ListVerificationsRequest(commissioned_by="a\x00b")),
            "commissioned_by",
        ),
        (
            h.consent.ListAuthorizations(consent_pb2.ListAuthorizationsRequest(member_id_number="5334\x00")),
            "member_id_number",
        ),
        (
            h.consent.ListAuthorizations(consent_pb2.ListAuthorizationsRequest(member_id_number="x" * 19)),
            "member_id_number",
        ),
        *(
            (h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(**{name: "a\x00b"})), name)
            for name in ("verification", "operator", "department", "subject_id_number")
        ),
        (h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(operator="o" * 201)), "operator"),
        (h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(since="0001-01-01T00:00:00+14:00")), "since"),
        (h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(until="9999-12-31T23:59:59-14:00")), "until"),
    ]
    for call, field in calls:
        code, _, fields, _ = await refused(call)
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field]), field


async def test_a_revocation_reason_with_nul_is_refused(harness: Harness) -> None:
    auth = await register(harness, harness.envelope(REQUEST))
    request = consent_pb2.RevokeAuthorizationRequest(name=auth.name, reason="why\x00")
    code, _, fields, _ = await refused(harness.consent.RevokeAuthorization(request, metadata=harness.metadata))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["reason"])


def test_a_deeply_nested_json_file_is_one_line_for_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(UsageError) as caught:
        read_json(path, "request")
    assert str(caught.value) == f"request {path}: JSON nested too deeply"
