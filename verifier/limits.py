"""Issue 13 (input): every bound the service puts on what a caller sends, in one table.

The checks live where the values are read (``verifier/request.py``, ``consent/``, the operations); this module
gathers their constants into :data:`INPUT_LIMITS`, the table docs/api.md shows under "Input limits" (a test keeps
the two equal, so the documentation cannot drift from the code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from consent import authorization as payload
from consent import check, envelope
from consent.text import UNPRINTABLE_CATEGORIES
from verifier import request
from verifier.operations import _names
from verifier.operations.audit_queries import MAX_AUDIT_PAGE_SIZE

__all__ = ["INPUT_LIMITS", "ONE_LINE", "InputLimit", "limits_table"]

ONE_LINE: Final = "one line: no " + "/".join(sorted(UNPRINTABLE_CATEGORIES))


@dataclass(frozen=True, slots=True)
class InputLimit:
    """One row of the table: the field (as a field violation names it), its bound, the characters allowed."""

    field: str
    bound: str
    characters: str = ""


INPUT_LIMITS: Final = (
    InputLimit(
        "envelope.payload",
        f"{check.MAX_PAYLOAD_BYTES} bytes; nesting depth {payload.MAX_JSON_DEPTH}",
        "UTF-8 JSON object",
    ),
    InputLimit("envelope.payload_type", "exactly the authorization payload type", ""),
    InputLimit("envelope.signatures", f"1 to {envelope.MAX_SIGNATURES} signatures; one verified per key id", ""),
    InputLimit("envelope.signatures[i].keyid", f"{envelope.MAX_KEYID} characters", "printable ASCII, no space"),
    InputLimit("envelope.signatures[i].sig", f"{envelope.MAX_SIGNATURE_BYTES} bytes", ""),
    InputLimit(
        "member_key_certificates",
        f"{check.MAX_CERTIFICATES} certificates of {check.MAX_CERTIFICATE_BYTES} bytes each",
        "UTF-8 JSON object",
    ),
    InputLimit("envelope.payload.commissioned_by", f"{payload.MAX_ORGANISATION} characters", ONE_LINE),
    InputLimit("envelope.payload.members", f"{payload.MAX_AUTHORIZED_MEMBERS} members", ""),
    InputLimit("envelope.payload.members[i].name", f"{payload.MAX_MEMBER_NAME} characters", ONE_LINE),
    InputLimit("envelope.payload.departments", f"{payload.MAX_DEPARTMENTS} departments", "department ids or *"),
    InputLimit(
        "envelope.payload.evidence",
        f"{payload.MAX_EVIDENCE_ENTRIES} entries; keys {payload.MAX_EVIDENCE_KEY}, values "
        f"{payload.MAX_EVIDENCE_VALUE} characters",
        ONE_LINE,
    ),
    InputLimit(
        "envelope.payload.valid_from, envelope.payload.valid_until",
        f"{payload.EARLIEST_DATE} to {payload.LATEST_DATE}",
        "YYYY-MM-DD",
    ),
    InputLimit("envelope.payload.signed_at", "an instant that exists in UTC", "RFC 3339 with offset"),
    InputLimit("request_id", f"{_names.MAX_REQUEST_ID} characters", "no NUL"),
    InputLimit("request.members", f"{request.MAX_MEMBERS} members", ""),
    InputLimit("request.members[i].name", f"{request.MAX_NAME} characters", ONE_LINE),
    InputLimit("request.deductions", f"{request.MAX_DEDUCTIONS} deductions", ""),
    InputLimit("request.deductions[i].evidence", f"{request.MAX_EVIDENCE} characters", ONE_LINE),
    InputLimit(
        "request.commissioned_by, request.area, request.purpose, request.members[i].relation",
        f"{request.MAX_TEXT} characters",
        ONE_LINE,
    ),
    InputLimit("request.household_address, request.case_number", f"{request.MAX_PRINTED_TEXT} characters", ONE_LINE),
    InputLimit("request.policy", f"{request.MAX_POLICY} characters", ONE_LINE),
    InputLimit("request.application_date", f"{request.EARLIEST_APPLICATION} to tomorrow (China time)", "YYYY-MM-DD"),
    InputLimit("authorizations", f"{request.MAX_AUTHORIZATIONS} authorizations", "resource names"),
    InputLimit("reason", f"{request.MAX_REASON} characters", "no NUL"),
    InputLimit("member_id_number", "18 characters", "17 digits then a digit or X"),
    InputLimit(
        "commissioned_by, verification, operator, department, subject_id_number (list filters)",
        f"{request.MAX_FILTER} characters",
        ONE_LINE,
    ),
    InputLimit(
        "since, until", f"{request.EARLIEST_INSTANT:%Y} to {request.LATEST_INSTANT.year - 1}", "RFC 3339 with offset"
    ),
    InputLimit("page_size", f"{_names.MAX_PAGE_SIZE} ({MAX_AUDIT_PAGE_SIZE} for ListAuditEvents); larger is cut", ""),
)
"""The bounds, in the order docs/api.md lists them."""


def limits_table() -> str:
    """:data:`INPUT_LIMITS` as the Markdown table of docs/api.md."""
    rows = ["| field | at most | characters |", "| --- | --- | --- |"]
    rows += [f"| `{row.field}` | {row.bound} | {row.characters or '—'} |" for row in INPUT_LIMITS]
    return "\n".join(rows)
