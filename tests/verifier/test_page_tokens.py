"""Issue 13 (input): page tokens only the service makes, and bodies that are not messages, over gRPC on both
databases: each is INVALID_ARGUMENT naming the field, never UNKNOWN, SQL or a traceback per request."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging

import grpc
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from harness import Harness, error_details, example_request
from prometheus_client import REGISTRY
from suites import TEST_SUITE

from consent.suite import CryptoSuite
from hedui.v1 import audit_pb2, consent_pb2, verification_pb2
from verifier.page_tokens import MAX_PAGE_TOKEN, NOT_ISSUED, PageTokens
from verifier.request import parse_request

REQUEST = parse_request(example_request())
CHILD = REQUEST.members[2].id_number


def test_a_sealed_position_opens_only_for_its_list_and_key() -> None:
    tokens = PageTokens.derived(b"k" * 32)
    token = tokens.seal("40", "audit\x00x")
    assert token != "40" and tokens.position(token, "audit\x00x") == "40"
    assert PageTokens.derived(b"k" * 32).position(token, "audit\x00x") == "40"  # another replica, the same key
    assert tokens.position(token, "audit\x00y") == NOT_ISSUED  # another list's (other filters)
    assert PageTokens.derived(b"j" * 32).position(token, "audit\x00x") == NOT_ISSUED  # another key
    edited = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for forged in ("40", edited, "€", "A" * (MAX_PAGE_TOKEN + 1), "!!!!", "AAAA"):
        assert tokens.position(forged, "audit\x00x") == NOT_ISSUED, forged
    assert tokens.seal("", "s") == "" and tokens.position("", "s") == ""


def _hmac_sm3(key: bytes, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


@pytest.mark.parametrize("suite", list(CryptoSuite))
def test_a_token_is_the_suites_hmac_of_its_list_and_position_and_opens_only_under_that_suite(
    suite: CryptoSuite,
) -> None:
    """Issue 17: HMAC-SHA256 or HMAC-SM3 (sm), computed here without the suite's code; the other suite refuses it."""
    mac = _hmac_sm3 if suite is CryptoSuite.SM else (lambda k, d: hmac.new(k, d, hashlib.sha256).digest())
    key = mac(b"k" * 32, b"hedui page tokens v1")
    expected = mac(key, b"audit\x00x\x0040")[:16] + b"40"
    token = PageTokens.derived(b"k" * 32, suite).seal("40", "audit\x00x")
    assert token == base64.urlsafe_b64encode(expected).decode().rstrip("=")
    assert PageTokens.derived(b"k" * 32, suite).position(token, "audit\x00x") == "40"
    other = CryptoSuite.STANDARD if suite is CryptoSuite.SM else CryptoSuite.SM
    assert PageTokens.derived(b"k" * 32, other).position(token, "audit\x00x") == NOT_ISSUED


CRAFTED = [
    "5",
    json.dumps({"c": "0001-01-01T00:00:00+14:00", "i": "x"}).encode().hex(),  # the issue's StatementError
    "zz",
    "A" * 600,
]


def _said(error: grpc.aio.AioRpcError) -> str:
    reason, violations = error_details(error)
    return " ".join([error.details() or "", reason, *(f"{f} {d}" for f, d in violations)])


@pytest.mark.parametrize("token", CRAFTED)
async def test_a_crafted_page_token_is_invalid_argument_naming_page_token(harness: Harness, token: str) -> None:
    h = harness
    calls = (
        h.verifications.ListVerifications(verification_pb2.ListVerificationsRequest(page_token=token)),
        h.consent.ListAuthorizations(consent_pb2.ListAuthorizationsRequest(member_id_number=CHILD, page_token=token)),
        h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_token=token)),
    )
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in error_details(caught.value)[1]] == ["page_token"]
        assert "SQL" not in _said(caught.value) and "Traceback" not in _said(caught.value)


async def test_an_issued_token_pages_on_and_is_refused_for_other_filters(harness: Harness) -> None:
    h = harness
    # Issue 17: one setting (crypto_suite) selects the tokens' HMAC too; HEDUI_TEST_SUITE=sm runs this with HMAC-SM3.
    tokens = h.service.verifications.page_tokens
    assert tokens.suite is TEST_SUITE is h.service.settings.crypto_suite
    assert h.service.authorizations.page_tokens is h.service.audit_queries.page_tokens is tokens
    for days in (30, 31, 32):
        await h.register(h.envelope(REQUEST, valid_until=dt.date.today() + dt.timedelta(days=days)))
    registered = "AUTHORIZATION_REGISTERED"
    first = await h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=1, kind=registered))
    assert first.next_page_token and not first.next_page_token.isdigit()
    second = await h.audit.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(page_size=1, kind=registered, page_token=first.next_page_token)
    )
    assert second.events[0].index > first.events[0].index
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # the same token under another filter: not its list
        await h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=1, page_token=first.next_page_token))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = await h.consent.ListAuthorizations(
        consent_pb2.ListAuthorizationsRequest(member_id_number=CHILD, page_size=2)
    )
    other = REQUEST.members[0].id_number
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.consent.ListAuthorizations(
            consent_pb2.ListAuthorizationsRequest(member_id_number=other, page_token=listed.next_page_token)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _undecodable_count() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "hedui_undecodable_requests":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


async def test_undecodable_bodies_are_one_metric_and_one_log_line_not_a_traceback_each(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    before = _undecodable_count()
    methods = (
        "/hedui.v1.ConsentService/GetAuthorization",
        "/hedui.v1.VerificationService/WatchVerification",
        "/hedui.v1.AuditService/ListAuditEvents",
    )
    with caplog.at_level(logging.INFO):
        for method in methods:
            for _ in range(3):
                if method.endswith("WatchVerification"):
                    call = harness.channel.unary_stream(method)(b"\xff\xff\xff\x0f garbage")
                    with pytest.raises(grpc.aio.AioRpcError) as caught:
                        async for _ in call:
                            pass
                else:
                    with pytest.raises(grpc.aio.AioRpcError) as caught:
                        await harness.channel.unary_unary(method)(b"\xff\xff\xff\x0f garbage")
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
                reason, violations = error_details(caught.value)
                assert (reason, [f for f, _ in violations]) == ("INVALID_REQUEST", ["request"])
    assert _undecodable_count() - before == 9
    lines = [r for r in caplog.records if "not valid protobuf messages" in r.getMessage()]
    assert len(lines) <= 1 and not any(r.exc_info for r in caplog.records)
    assert not any("Traceback" in r.getMessage() or "DecodeError" in r.getMessage() for r in caplog.records)
