"""How the server is reached (verifier/access/_transport.py): the development CA, plaintext, loopback only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from connectors.tls import load_certificates
from verifier.access import DevelopmentCa, TransportError, client_transport, is_loopback, server_transport
from verifier.config import ConfigError, TlsSettings, load_settings


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
