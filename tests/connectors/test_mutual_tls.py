"""Remote connectors over mutual TLS with query tokens (issue 13): the reference connector server answers only
hedui's client certificate, and only a query whose token hedui signed for that very query; the remote client
presents both; the conformance kit checks a server refuses a query without a valid token."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from connector_process import connector_server, new_key
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from harness import SANDBOX_FILE, example_request, example_sandbox, running_service
from hedui_cli import hedui_process as hedui

from connectors import SandboxDataset
from connectors.base import DepartmentQuery, DepartmentRefused, DepartmentUnavailable, Ticket
from connectors.conformance import check_connector
from connectors.query_token import (
    QUERY_TOKEN_METADATA,
    QueryClaims,
    QueryTokenSigner,
    QueryTokenVerifier,
    new_token_key,
)
from connectors.remote import RemoteConnector, connector_factory
from connectors.sandbox import SandboxConnector
from connectors.server import ConnectorServer, start_connector_server
from connectors.tls import certificate_authority, issue_certificate, self_signed_certificate
from hedui.v1 import connector_pb2

ZHANG = "533401197803120118"
SERVER = self_signed_certificate()
CA = certificate_authority("hedui's client CA")
HEDUI_CLIENT = issue_certificate(*CA, "hedui")
TOKEN_KEY = new_token_key()


def ask(*ids: str, reference: str = "authorizations/a1") -> DepartmentQuery:
    """A query of a new asking."""
    return DepartmentQuery("q1", ids, reference, "ASSESSMENT", new_key())


@contextlib.asynccontextmanager
async def serving(*, tokens: bool = True) -> AsyncIterator[ConnectorServer]:
    """The tax sandbox behind mutual TLS (hedui's client CA) and, with ``tokens``, query tokens."""
    connector = SandboxConnector("tax", SandboxDataset.from_json(example_sandbox()))
    server = await start_connector_server(
        connector, "127.0.0.1:0", *SERVER, client_ca=CA[0], query_token_keys=[TOKEN_KEY[1]] if tokens else ()
    )
    try:
        yield server
    finally:
        await server.stop(0)


def remote(server: ConnectorServer, *, client: bool = True, tokens: bool = True) -> RemoteConnector:
    """hedui's side, with its client certificate and its token key unless told otherwise."""
    pair = {"client_certificate": HEDUI_CLIENT[0], "client_key": HEDUI_CLIENT[1]} if client else {}
    signer = QueryTokenSigner(TOKEN_KEY[0]) if tokens else None
    return RemoteConnector(f"127.0.0.1:{server.port}", SERVER[0], department="tax", query_tokens=signer, **pair)


@pytest.mark.integration
async def test_hedui_with_its_certificate_and_tokens_is_answered() -> None:
    async with serving() as server:
        connector = remote(server)
        try:
            answer = await connector.query(ask(ZHANG))
        finally:
            await connector.close()
    assert answer.records and {r.id_number for r in answer.records} == {ZHANG}  # type: ignore[union-attr]


@pytest.mark.integration
async def test_a_client_without_hedui_s_certificate_is_refused_at_the_handshake() -> None:
    async with serving() as server:
        stranger_ca = certificate_authority("another CA")
        stranger = issue_certificate(*stranger_ca, "x")
        for pair in ({}, {"client_certificate": stranger[0], "client_key": stranger[1]}):
            connector = RemoteConnector(f"127.0.0.1:{server.port}", SERVER[0], department="tax", **pair)
            try:
                with pytest.raises(DepartmentUnavailable):  # the handshake closed: nothing was asked
                    await connector.query(ask(ZHANG, reference="made-up"))
            finally:
                await connector.close()


@pytest.mark.integration
async def test_a_made_up_reference_or_another_query_s_token_is_refused() -> None:
    async with serving() as server:
        connector = remote(server)
        try:
            await connector.start()
            query = ask(ZHANG)
            refused = []
            for token in (
                "",
                "made-up",
                connector.token_for(ask(ZHANG)),
                connector.token_for(dataclasses.replace(query, id_numbers=("53340119800605022X",))),
            ):
                with pytest.raises(DepartmentRefused) as caught:
                    await connector.query_with_token(query, token)
                refused.append(caught.value.reason)
            made_up = ask(ZHANG, reference="made-up")
            with pytest.raises(DepartmentRefused):  # the token of the real reference does not cover a made-up one
                await connector.query_with_token(made_up, connector.token_for(query))
        finally:
            await connector.close()
    assert "no query token" in refused[0] and "malformed" in refused[1]
    assert "its key differs" in refused[2] and "its ids differs" in refused[3]


@pytest.mark.integration
async def test_a_ticket_is_polled_only_under_hedui_s_token_for_it() -> None:
    # Review S7: another client of the connector's CA holding hedui's ticket is refused, as is a token for another.
    data = example_sandbox()
    data["banks"]["answer_after_seconds"] = 0.2
    connector = SandboxConnector("banks", SandboxDataset.from_json(data))
    server = await start_connector_server(
        connector, "127.0.0.1:0", *SERVER, client_ca=CA[0], query_token_keys=[TOKEN_KEY[1]]
    )
    other = issue_certificate(*CA, "another-client-of-the-ca")
    address = f"127.0.0.1:{server.port}"
    hedui_side = RemoteConnector(
        address, SERVER[0], department="banks", query_tokens=QueryTokenSigner(TOKEN_KEY[0]),
        client_certificate=HEDUI_CLIENT[0], client_key=HEDUI_CLIENT[1],
    )  # fmt: skip
    thief = RemoteConnector(address, SERVER[0], department="banks", client_certificate=other[0], client_key=other[1])
    wrong = RemoteConnector(
        address, SERVER[0], department="banks", query_tokens=QueryTokenSigner(new_token_key()[0]),
        client_certificate=other[0], client_key=other[1],
    )  # fmt: skip
    try:
        ticket = await hedui_side.query(ask(ZHANG))
        assert isinstance(ticket, Ticket)
        assert ZHANG not in ticket.ticket_id  # opaque: no identity number in cleartext
        for stranger in (thief, wrong):
            with pytest.raises(DepartmentRefused) as caught:
                await stranger.poll(ticket)
            assert "query token" in caught.value.reason
        # hedui's token for another ticket does not open this one.
        signer = QueryTokenSigner(TOKEN_KEY[0])
        request = connector_pb2.PollRequest(ticket_id=ticket.ticket_id)
        metadata = ((QUERY_TOKEN_METADATA, signer.poll_token("banks", ticket.ticket_id + "x")),)
        with pytest.raises(DepartmentRefused, match="another query"):
            await hedui_side._call("Poll", request, connector_pb2.QueryResponse, metadata)
        await asyncio.sleep(max(0.0, (ticket.ready_after - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)
        result = await hedui_side.poll(ticket)  # ready: the answer
        assert not isinstance(result, Ticket) and [r.id_number for r in result.records] == [ZHANG]
    finally:
        for side in (hedui_side, thief, wrong):
            await side.close()
        await server.stop(0)


def test_a_token_expires_and_verifies_only_with_hedui_s_key() -> None:
    signer, verifier = QueryTokenSigner(TOKEN_KEY[0]), QueryTokenVerifier([TOKEN_KEY[1]])
    token = signer.token("tax", "authorizations/a1", "v1.tax.1", "ASSESSMENT", [ZHANG], seconds=60)
    claims = QueryClaims.of("tax", "authorizations/a1", "v1.tax.1", "ASSESSMENT", [ZHANG], 0)
    assert verifier.problem(token, claims) is None
    assert verifier.problem(token, claims, now=time.time() + 3600) == "the query token has expired"
    other = QueryTokenVerifier([new_token_key()[1]])
    assert other.problem(token, claims) == "the query token's signature does not verify with hedui's key"
    assert verifier.problem(token, QueryClaims.of("banks", "authorizations/a1", "v1.tax.1", "ASSESSMENT", [ZHANG], 0))


def test_an_unsigned_token_is_not_parsed_and_a_long_lived_one_is_refused() -> None:
    # Review S6: 3,000 nested '[' unsigned are a refusal, not a RecursionError; N1: no token outlives TOKEN_SECONDS.
    verifier = QueryTokenVerifier([TOKEN_KEY[1]])
    claims = QueryClaims.of("tax", "authorizations/a1", "v1.tax.1", "ASSESSMENT", [ZHANG], 0)
    deep = base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("=")
    signature = base64.urlsafe_b64encode(b"x" * 64).decode().rstrip("=")
    assert verifier.problem(f"{deep}.{signature}", claims) == (
        "the query token's signature does not verify with hedui's key"
    )
    # Signed, yet nested too deep for the parser (hedui never signs such claims): malformed, not a crash.
    key = serialization.load_pem_private_key(TOKEN_KEY[0], password=None)
    assert isinstance(key, Ed25519PrivateKey)
    nested = b"[" * 2_500  # within the token's 4,096 characters, deeper than the parser's recursion limit
    signed = base64.urlsafe_b64encode(key.sign(b"hedui-query-token-v1\n" + nested)).decode().rstrip("=")
    unpadded = base64.urlsafe_b64encode(nested).decode().rstrip("=")
    assert verifier.problem(f"{unpadded}.{signed}", claims) == "the query token is malformed"
    signer = QueryTokenSigner(TOKEN_KEY[0])
    long_lived = signer.token("tax", "authorizations/a1", "v1.tax.1", "ASSESSMENT", [ZHANG], seconds=86_400)
    assert verifier.problem(long_lived, claims) == "the query token is valid for longer than hedui signs tokens for"
    usual = signer.token("tax", "authorizations/a1", "v1.tax.1", "ASSESSMENT", [ZHANG])
    assert verifier.problem(usual, claims) is None


def test_a_tokens_ids_are_salted_so_they_give_no_identity_number_away() -> None:
    # Review N2: an unsalted SHA-256 of an identity number is recovered by trying the few billion possible ones.
    signer, verifier = QueryTokenSigner(TOKEN_KEY[0]), QueryTokenVerifier([TOKEN_KEY[1]])
    tokens = [signer.token("tax", "authorizations/a1", "v1.tax.1", "ASSESSMENT", [ZHANG]) for _ in range(2)]
    claims = [json.loads(base64.urlsafe_b64decode(t.partition(".")[0] + "==")) for t in tokens]
    assert claims[0]["ids"] != claims[1]["ids"] and claims[0]["n"] != claims[1]["n"]
    assert hashlib.sha256(ZHANG.encode()).hexdigest() not in {c["ids"] for c in claims}
    assert claims[0]["ids"] == hashlib.sha256(bytes.fromhex(claims[0]["n"]) + ZHANG.encode()).hexdigest()
    expected = QueryClaims.of("tax", "authorizations/a1", "v1.tax.1", "ASSESSMENT", [ZHANG], 0)
    assert all(verifier.problem(t, expected) is None for t in tokens)


@pytest.mark.integration
async def test_the_conformance_kit_checks_refusal_without_a_valid_token() -> None:
    async with serving(tokens=True) as checked, serving(tokens=False) as unchecked:
        results = {}
        for name, server in (("checked", checked), ("unchecked", unchecked)):
            connector = remote(server)
            try:
                found = await check_connector(connector, department="tax", id_numbers=[ZHANG])
            finally:
                await connector.close()
            results[name] = {r.name: r for r in found}
    assert results["checked"]["refusal"].passed, results["checked"]["refusal"].detail
    assert "without its query token is refused" in results["checked"]["refusal"].detail
    refusal = results["unchecked"]["refusal"]
    assert not refusal.passed and "a query without a query token was accepted" in refusal.detail


def test_the_remote_factory_reads_hedui_s_certificate_and_token_key(tmp_path: Path) -> None:
    (tmp_path / "server.pem").write_bytes(SERVER[0])
    (tmp_path / "hedui.pem").write_bytes(HEDUI_CLIENT[0])
    (tmp_path / "hedui.key").write_bytes(HEDUI_CLIENT[1])
    (tmp_path / "token.key").write_bytes(TOKEN_KEY[0])
    options = {"address": "127.0.0.1:1", "certificate": str(tmp_path / "server.pem")}
    connector = connector_factory(
        "tax",
        {
            **options,
            "client_certificate": str(tmp_path / "hedui.pem"),
            "client_key": str(tmp_path / "hedui.key"),
            "query_token_key": str(tmp_path / "token.key"),
        },
    )
    assert connector.token_for(ask(ZHANG))
    with pytest.raises(ValueError, match="go together"):
        connector_factory("tax", {**options, "client_certificate": str(tmp_path / "hedui.pem")})
    with pytest.raises(ValueError, match="Ed25519 private key"):
        connector_factory("tax", {**options, "query_token_key": str(tmp_path / "hedui.key")})


@pytest.mark.integration
def test_the_reference_server_requires_client_certificates_and_tokens(tmp_path: Path) -> None:
    with connector_server(tmp_path / "tls", "tax", sandbox=SANDBOX_FILE, client_auth=True) as server:
        cert = str(tmp_path / "tls" / "cert.pem")
        good = hedui(
            "connector", "check", "--address", server.address, "--cert", cert, "--id-number", ZHANG, cwd=tmp_path
        )
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "cert.pem").write_bytes((tmp_path / "tls" / "cert.pem").read_bytes())
        anonymous = hedui(
            "connector", "check", "--address", server.address, "--cert", str(tmp_path / "elsewhere" / "cert.pem"),
            "--deadline", "3", cwd=tmp_path,
        )  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert "a query without its query token is refused" in good.stdout
    assert anonymous.returncode != 0 and "UNAVAILABLE" in anonymous.stdout + anonymous.stderr
    assert any("clients need a certificate of" in line for line in server.output)


@pytest.mark.integration
def test_serve_without_client_auth_must_say_so(tmp_path: Path) -> None:
    done = hedui("connector", "serve", "--department", "tax", "--cert", "c.pem", "--key", "k.pem", cwd=tmp_path)
    assert done.returncode == 2


def test_serve_without_client_auth_listens_on_loopback_only(tmp_path: Path) -> None:
    # Review S8: --no-client-auth answers anyone, so it is for a developer's machine only, as plaintext hedui serve.
    done = hedui(
        "connector", "serve", "--department", "tax", "--self-signed-out", str(tmp_path / "tls"), "--no-client-auth",
        "--listen", "0.0.0.0:0", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "loopback only" in lines[0] and "Traceback" not in done.stderr


def test_a_remote_department_without_hedui_s_certificate_or_token_key_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Review S8: hedui serve builds its connectors at start; one that cannot prove it is hedui is said loudly.
    (tmp_path / "server.pem").write_bytes(SERVER[0])
    options = {"address": "127.0.0.1:1", "certificate": str(tmp_path / "server.pem")}
    with caplog.at_level(logging.WARNING, logger="hedui.connectors.remote"):
        connector_factory("tax", options)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "WITHOUT CLIENT_CERTIFICATE AND QUERY_TOKEN_KEY" in warned[0]
    caplog.clear()
    (tmp_path / "token.key").write_bytes(TOKEN_KEY[0])
    (tmp_path / "hedui.pem").write_bytes(HEDUI_CLIENT[0])
    (tmp_path / "hedui.key").write_bytes(HEDUI_CLIENT[1])
    with caplog.at_level(logging.WARNING, logger="hedui.connectors.remote"):
        connector_factory("tax", {**options, "query_token_key": str(tmp_path / "token.key")})
        connector_factory(
            "tax",
            {
                **options,
                "query_token_key": str(tmp_path / "token.key"),
                "client_certificate": str(tmp_path / "hedui.pem"),
                "client_key": str(tmp_path / "hedui.key"),
            },
        )
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "WITHOUT CLIENT_CERTIFICATE:" in warned[0]  # the complete one says nothing


@pytest.mark.integration
async def test_a_verification_asks_the_remote_department_over_mutual_tls_with_tokens(tmp_path: Path) -> None:
    """hedui's pipeline signs a token for every query it sends (the one batch the department gets included)."""
    async with serving() as server:
        tax = remote(server)
        url = f"sqlite:///{tmp_path / 'hedui.db'}"
        async with running_service(url, example_sandbox(), connectors={"tax": tax}) as harness:
            settled = await harness.run(example_request())
        await tax.close()
    statuses = {d.department: (d.status, d.records) for d in settled.departments}
    assert statuses["tax"][0] == "ok" and statuses["tax"][1] > 0, statuses
