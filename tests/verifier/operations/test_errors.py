"""verifier.errors: the catalogue's reasons keep their strings and map to the codes its table draws."""

from __future__ import annotations

import re
from pathlib import Path

import verifier.errors
from verifier.errors import FieldViolation, Reason, ServiceError


def test_the_table_in_the_docstring_is_the_mapping() -> None:
    doc = verifier.errors.__doc__ or ""
    drawn = dict(re.findall(r"^([A-Z_]+)\s+([A-Z_]+)\s+\S", doc, flags=re.MULTILINE))
    assert drawn == {reason.value: reason.code for reason in Reason}


def test_every_reason_is_its_own_name_and_every_one_used_is_catalogued() -> None:
    assert all(reason.value == reason.name for reason in Reason)
    source = "".join(p.read_text(encoding="utf-8") for p in Path(verifier.errors.__file__).parent.rglob("*.py"))
    used = set(re.findall(r"Reason\.([A-Z_]+)", source))
    assert used <= {r.name for r in Reason} and len(used) >= 15


def test_a_refusal_names_its_first_violation_and_carries_them_all() -> None:
    error = ServiceError.invalid([FieldViolation("a", "is bad"), FieldViolation("b", "too")])
    assert (error.code, error.reason, str(error), len(error.violations)) == (
        "INVALID_ARGUMENT",
        "INVALID_REQUEST",
        "a: is bad",
        2,
    )
    precondition = ServiceError.precondition("authorizations", "none", Reason.CONSENT_MISSING)
    assert (precondition.code, precondition.message) == ("FAILED_PRECONDITION", "authorizations: none")
    assert (
        ServiceError.not_found("x/1").code == "NOT_FOUND"
        and ServiceError(Reason.KEY_EXISTS, "m").code == "ALREADY_EXISTS"
    )
    assert ServiceError(Reason.AUDIT_LOG_DAMAGED, "m").code == "DATA_LOSS"
