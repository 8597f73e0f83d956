"""How the server is reached (verifier/access/_transport.py): the development CA, plaintext, loopback only."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from connectors.tls import certificate_authority, issue_certificate, load_certificates
from hedui.v1 import audit_pb2, audit_pb2_grpc, verification_pb2, verification_pb2_grpc
from verifier.access import (
    DEVELOPMENT_CLIENT,
    DevelopmentCa,
    TransportError,
    client_transport,
    is_loopback,
    server_transport,
)
from verifier.api import build_server
from verifier.cli._common import hedui_channel
from verifier.config import ConfigError, Settings, TlsSettings, load_settings
from verifier.service import HeduiService
from verifier.storage.db import Database


def test_the_development_ca_is_made_once_with_private_keys(tmp_path: Path) -> None:
    tls = TlsSettings(development_dir=tmp_path / "tls")
    transport = server_transport(tls, "127.0.0.1:0")
    assert transport.credentials is not None and transport.development_certificate is not None
    ca = DevelopmentCa(tmp_path / "tls")
    for key in ("ca.key", "server.key", "admin.key"):
        assert stat.S_IMODE(ca.path(key).stat().st_mode) == 0o600, key
    assert stat.S_IMODE(ca.directory.stat().st_mode) == 0o700
    first = ca.path("admin.pem").read_bytes()
    server_transport(tls, "localhost:50051")  # a second start keeps the CA and its certificates
    assert ca.path("admin.pem").read_bytes() == first == transport.development_certificate
    client = client_transport(tls)
    assert client.certificate == first and client.server_name == "localhost"
    assert (
        load_certificates(ca.path("server.pem").read_bytes())[0].issuer
        == load_certificates(ca.path("ca.pem").read_bytes())[0].subject
    )


def test_the_development_ca_writes_through_no_planted_link(tmp_path: Path) -> None:
    # Review N9: a symbolic link planted where a key goes is replaced, never written through.
    target = tmp_path / "elsewhere"
    target.write_bytes(b"untouched")
    ca = DevelopmentCa(tmp_path / "tls")
    ca.directory.mkdir()
    ca.path("ca.key").symlink_to(target)
    ca.path("ca.pem").symlink_to(target)
    assert ca.ensure()
    assert target.read_bytes() == b"untouched"
    for name, mode in (("ca.key", 0o600), ("ca.pem", 0o644)):
        assert not ca.path(name).is_symlink() and stat.S_IMODE(ca.path(name).stat().st_mode) == mode, name
    assert b"PRIVATE KEY" in ca.path("ca.key").read_bytes()


@pytest.mark.parametrize("plaintext", [False, True])
def test_without_tls_configured_only_loopback_is_served(tmp_path: Path, plaintext: bool) -> None:
    tls = TlsSettings(development_dir=tmp_path / "tls", plaintext=plaintext)
    with pytest.raises(TransportError, match="loopback only"):
        server_transport(tls, "0.0.0.0:50051")
    assert not (tmp_path / "tls").exists()


def test_plaintext_is_only_what_the_config_says(tmp_path: Path) -> None:
    transport = server_transport(TlsSettings(development_dir=tmp_path / "tls", plaintext=True), "[::1]:50051")
    assert transport.plaintext and not (tmp_path / "tls").exists()


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1:1") and is_loopback("127.9.9.9:1") and is_loopback("[::1]:1")
    assert is_loopback("localhost:1")
    assert not is_loopback("0.0.0.0:1") and not is_loopback("10.0.0.1:1") and not is_loopback("example.org:1")


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('certificate_file = "s.pem"\n', "give all three or none"),
        ('plaintext = true\ncertificate_file = "s.pem"\nkey_file = "s.key"\nclient_ca_file = "ca.pem"\n', "choose one"),
        ("mystery = 1\n", "tls.mystery"),
    ],
)
def test_a_tls_table_is_whole(tmp_path: Path, table: str, words: str) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text("[tls]\n" + table)
    with pytest.raises(ConfigError, match=words):
        load_settings(config, tmp_path / "base", create_keys=False, environ=False)


def test_configured_files_must_be_readable(tmp_path: Path) -> None:
    tls = TlsSettings(tmp_path / "s.pem", tmp_path / "s.key", tmp_path / "ca.pem")
    with pytest.raises(TransportError, match=r"tls\.certificate_file"):
        server_transport(tls, "0.0.0.0:50051")


@pytest.mark.integration
async def test_the_development_ca_s_admin_client_may_call_as_every_role(tmp_path: Path) -> None:
    """What `hedui serve` without [tls] does: its admin client is registered, a second start keeps it."""
    tls = TlsSettings(development_dir=tmp_path / "tls")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'hedui.db'}", audit_subject_key=b"k" * 32, tls=tls)
    for _ in range(2):  # a second start keeps the CA and its client
        service = HeduiService(Database(settings.database_url), {}, settings)
        await service.start()
        _, port, stop = await build_server(service, "127.0.0.1:0", server_transport(tls, "127.0.0.1:0"))
        try:
            async with hedui_channel(f"127.0.0.1:{port}", client_transport(tls)) as channel:
                listed = await verification_pb2_grpc.VerificationServiceStub(channel).ListVerifications(
                    verification_pb2.ListVerificationsRequest()
                )
                assert list(listed.verifications) == []
                audit = audit_pb2_grpc.AuditServiceStub(channel)
                events = await audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(kind="CLIENT_ADDED"))
                assert [e.kind for e in events.events] == ["CLIENT_ADDED"]  # the admin client's, made once
            clients = await service.clients.list()
            assert [(c.name, c.organisation, sorted(c.roles)) for c in clients] == [
                (DEVELOPMENT_CLIENT, "533401-civil-affairs", ["admin", "case_system", "supervisor"])
            ]
        finally:
            await stop()
            await service.close()


@pytest.mark.integration
async def test_configured_tls_serves_the_clients_of_its_client_ca(tmp_path: Path) -> None:
    """[tls] with the operator's files: no development CA is made, a client of the configured CA is served."""
    ca, ca_key = certificate_authority("county client CA")
    server = issue_certificate(ca, ca_key, "hedui.county.example", server_names=("hedui.county.example", "127.0.0.1"))
    client = issue_certificate(ca, ca_key, "jinhe-case-system")
    for name, data in (("server.pem", server[0]), ("server.key", server[1]), ("client-ca.pem", ca)):
        (tmp_path / name).write_bytes(data)
    tls = TlsSettings(
        tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "client-ca.pem", development_dir=tmp_path / "tls"
    )
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'hedui.db'}", audit_subject_key=b"k" * 32, tls=tls)
    service = HeduiService(Database(settings.database_url), {}, settings)
    await service.start()
    await service.clients.add(client[0], "533401-civil-affairs", ["case_system"])
    _, port, stop = await build_server(service, "127.0.0.1:0", server_transport(tls, "127.0.0.1:0"))
    try:
        credentials = grpc.ssl_channel_credentials(ca, client[1], client[0])
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
            listed = await verification_pb2_grpc.VerificationServiceStub(channel).ListVerifications(
                verification_pb2.ListVerificationsRequest()
            )
        assert list(listed.verifications) == []
        assert not (tmp_path / "tls").exists()
        with pytest.raises(TransportError, match="cannot read"):
            server_transport(dataclasses.replace(tls, key_file=tmp_path / "missing.key"), "0.0.0.0:1")
    finally:
        await stop()
        await service.close()


HANDSHAKES = """
import asyncio, sys
import verifier  # what every hedui process imports before grpc
import grpc
from connectors.tls import certificate_authority, issue_certificate

async def main() -> None:
    ca, ca_key = certificate_authority("ca")
    cert, key = issue_certificate(ca, ca_key, "localhost", server_names=("localhost", "127.0.0.1"))
    server = grpc.aio.server()
    credentials = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    refused = 0
    for _ in range(20):  # no client certificate: each handshake fails
        options = [("grpc.ssl_target_name_override", "localhost")]
        channel = grpc.aio.secure_channel(f"127.0.0.1:{port}", grpc.ssl_channel_credentials(ca), options=options)
        try:
            await channel.unary_unary("/hedui.v1.AuditService/GetSignedTreeHead")(b"", timeout=10)
        except grpc.aio.AioRpcError as error:
            refused += error.code() == grpc.StatusCode.UNAVAILABLE
        await channel.close()
    await server.stop(0)
    print(refused)

asyncio.run(main())
"""


@pytest.mark.integration
def test_failed_handshakes_write_no_log_line_each(tmp_path: Path) -> None:
    # Review S10: 20 anonymous handshakes, 20 refusals, no line of gRPC's INFO log for any of them.
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    done = subprocess.run(
        [sys.executable, "-c", HANDSHAKES], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "20"
    assert "Handshake failed" not in done.stderr and done.stderr.count("\n") < 3, done.stderr[-2000:]
