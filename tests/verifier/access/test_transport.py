"""How the server is reached (verifier/access/_transport.py): the development CA, plaintext, loopback only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from connectors.tls import load_certificates
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
