"""verifier.operations._names: resource names, request ids and page tokens are refused as INVALID_REQUEST
field violations that blame the right field; the caller defaults to "unknown"."""

from __future__ import annotations

import dataclasses

import pytest

from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations._names import (
    COUNTER,
    MAX_PAGE_SIZE,
    MAX_REQUEST_ID,
    NOBODY,
    RESOURCE_ID,
    Caller,
    check_request_id,
    id_from,
)
from verifier.operations.audit_queries import EventQuery


def _refusal(error: pytest.ExceptionInfo[ServiceError]) -> tuple[str, str, list[str]]:
    """(reason, gRPC code, the fields blamed) of a refusal."""
    return error.value.reason, error.value.code, [v.field for v in error.value.violations]


def test_the_id_of_a_resource_name() -> None:
    assert id_from("authorizations/a-1_B2", "authorizations", "name") == "a-1_B2"
    assert id_from("verifications/" + "x" * 64, "verifications", "name") == "x" * 64


@pytest.mark.parametrize(
    "name",
    [
        "",
        "authorizations/",  # no id
        "authorizations",  # no slash
        "verifications/v-1",  # another collection
        "Authorizations/a-1",  # collection names are exact
        "authorizations/a/1",  # a nested name
        "authorizations/a 1",
        "authorizations/a-1\n",  # a trailing newline is not an id character
        "authorizations/../a",
        "authorizations/" + "x" * 65,  # over 64 characters
        "authorizations/ａ１",  # full-width letters and digits are not ASCII
        "/authorizations/a-1",
    ],
)
def test_anything_else_is_refused_and_blames_the_given_field(name: str) -> None:
    with pytest.raises(ServiceError) as error:
        id_from(name, "authorizations", "authorizations[2]")
    assert _refusal(error) == (Reason.INVALID_REQUEST, "INVALID_ARGUMENT", ["authorizations[2]"])
    assert error.value.violations == [
        FieldViolation("authorizations[2]", "must be a resource name authorizations/{id}")
    ]
    assert str(error.value) == "authorizations[2]: must be a resource name authorizations/{id}"


def test_a_request_id_is_bounded_and_has_no_nul() -> None:
    check_request_id("")  # none given: no idempotency
    check_request_id("r" * 200)
    check_request_id("请求-" * 66)  # characters, not bytes: 198 characters
    for bad in ("r" * 201, "a\x00b", "\x00"):
        with pytest.raises(ServiceError) as error:
            check_request_id(bad)
        assert _refusal(error) == (Reason.INVALID_REQUEST, "INVALID_ARGUMENT", ["request_id"])
        assert "200" in error.value.violations[0].description
    assert MAX_REQUEST_ID == 200


@pytest.mark.parametrize("token", ["0", "7", "20", "123456789"])
def test_a_page_token_is_a_counter_of_ascii_digits(token: str) -> None:
    assert COUNTER.fullmatch(token) is not None


@pytest.mark.parametrize("token", ["", "-1", "+1", "1.0", "1e3", "1234567890", " 1", "1\n", "٣", "１", "abc"])
def test_a_page_token_that_is_not_a_small_counter_does_not_match(token: str) -> None:
    # at most nine digits: every value fits a 32-bit database integer (999_999_999 < 2**31)
    assert COUNTER.fullmatch(token) is None


def test_resource_ids_are_ascii_letters_digits_dash_and_underscore() -> None:
    assert RESOURCE_ID.fullmatch("AZaz09_-") is not None
    assert all(RESOURCE_ID.fullmatch(bad) is None for bad in ("", "a.b", "a:b", "é", "a" * 65))


def test_pages_are_at_most_a_hundred() -> None:
    assert MAX_PAGE_SIZE == 100


def test_the_caller_defaults_to_unknown_and_is_frozen() -> None:
    assert (NOBODY.operator, NOBODY.client) == ("unknown", "unknown")
    assert Caller() == NOBODY and Caller("worker-7") != NOBODY
    with pytest.raises(dataclasses.FrozenInstanceError):
        NOBODY.operator = "someone"  # type: ignore[misc]


def test_an_audit_page_token_the_service_issues_is_accepted_back() -> None:
    issued = str(10**9)  # what list_events returns as next_page_token after the entry at leaf index 10**9
    assert EventQuery(page_size=50, page_token=issued, kind="", since="", until="").violations == []
