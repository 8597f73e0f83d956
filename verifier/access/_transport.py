"""How the gRPC server is reached (issue 13): mutual TLS, the development CA, or plaintext on loopback.

:func:`server_transport` reads ``[tls]`` (:class:`verifier.config.TlsSettings`): the operator's certificate, key
and client CA, else the development CA under the data directory (created on first start: a CA, a server
certificate for localhost, and an admin client certificate; keys mode 0600), else — only when the config says
``plaintext = true`` — no TLS. Without the operator's certificate the server listens on loopback only, and says
so loudly. :func:`client_transport` is the other end, for the ``hedui`` commands and the tests.

The TLS layer requires a client certificate signed by the client CA (gRPC Python offers "require and verify"
or "do not ask"); a call that reaches hedui carries a verified certificate, and the interceptor
(:mod:`verifier.access._interceptor`) decides by its key which client it is.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import grpc

from connectors.tls import certificate_authority, issue_certificate, split_address
from verifier.config._tls import TlsSettings

__all__ = [
    "DEVELOPMENT_CLIENT",
    "ClientTransport",
    "DevelopmentCa",
    "ServerTransport",
    "TransportError",
    "client_transport",
    "is_loopback",
    "server_transport",
]

log = logging.getLogger("hedui.access")
DEVELOPMENT_CLIENT: Final = "hedui-development-admin"
SERVER_NAMES: Final = ("localhost", "127.0.0.1", "::1")


class TransportError(ValueError):
    """A ``[tls]`` setting that cannot be served (a file missing, a non-loopback address without TLS)."""


def is_loopback(address: str) -> bool:
    """Whether ``HOST:PORT`` names this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    try:
        host, _ = split_address(address)
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def write_new_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """``data`` in a new file at ``path`` with ``mode`` (a key: readable by its owner only; never widened by the
    umask). Whatever was at ``path`` is removed first, a symbolic link itself rather than what it points to, and the
    file is created exclusively without following links (review N9): nothing planted there is written through."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)


def _write_private(path: Path, data: bytes) -> None:
    """A key file readable by its owner only."""
    write_new_file(path, data, 0o600)


@dataclass(frozen=True, slots=True)
class DevelopmentCa:
    """The development CA's files in one directory: the CA, the server's and the admin client's pairs."""

    directory: Path

    def path(self, name: str) -> Path:
        """One of the files: ``ca.pem``, ``server.pem``, ``server.key``, ``admin.pem``, ``admin.key``…"""
        return self.directory / name

    @property
    def exists(self) -> bool:
        """Whether the whole set was made before."""
        names = ("ca.pem", "ca.key", "server.pem", "server.key", "admin.pem", "admin.key")
        return all(self.path(n).is_file() for n in names)

    def ensure(self) -> bool:
        """Make the set if it is not there (whether it was made now)."""
        if self.exists:
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        ca, ca_key = certificate_authority("hedui development CA (not for production)")
        server, server_key = issue_certificate(ca, ca_key, "localhost", server_names=SERVER_NAMES)
        admin, admin_key = issue_certificate(ca, ca_key, DEVELOPMENT_CLIENT)
        _write_private(self.path("ca.key"), ca_key)
        _write_private(self.path("server.key"), server_key)
        _write_private(self.path("admin.key"), admin_key)
        for name, certificate in (("ca.pem", ca), ("server.pem", server), ("admin.pem", admin)):
            write_new_file(self.path(name), certificate, 0o644)
        return True

    def issue_client(self, name: str) -> tuple[bytes, bytes]:
        """A new client certificate of this CA (for tests and a developer's second client)."""
        return issue_certificate(self.path("ca.pem").read_bytes(), self.path("ca.key").read_bytes(), name)


@dataclass(frozen=True, slots=True)
class ServerTransport:
    """The server's credentials (``None``: plaintext), and the development client's certificate to register."""

    credentials: grpc.ServerCredentials | None
    development_certificate: bytes | None = None
    description: str = ""
    client_ca: bytes | None = None  # the client CA's PEM: a client's certificate must be issued directly by it

    @property
    def plaintext(self) -> bool:
        """Whether calls come without TLS (every caller is the development client)."""
        return self.credentials is None


def _read(path: Path, what: str) -> bytes:
    """A PEM file the server needs; a missing one is a :class:`TransportError` naming the key."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TransportError(f"tls.{what}: {path}: cannot read: {exc.strerror}") from None


def mutual_tls(certificate: bytes, key: bytes, client_ca: bytes) -> grpc.ServerCredentials:
    """Server credentials that require a client certificate signed by ``client_ca``."""
    return grpc.ssl_server_credentials([(key, certificate)], root_certificates=client_ca, require_client_auth=True)


def server_transport(tls: TlsSettings, listen: str) -> ServerTransport:
    """The transport ``[tls]`` asks for on ``listen`` (the development CA created if needed), logged loudly."""
    if tls.configured:
        assert tls.certificate_file and tls.key_file and tls.client_ca_file
        certificate, key = _read(tls.certificate_file, "certificate_file"), _read(tls.key_file, "key_file")
        client_ca = _read(tls.client_ca_file, "client_ca_file")
        credentials = mutual_tls(certificate, key, client_ca)
        return ServerTransport(
            credentials, description=f"mutual TLS (clients of {tls.client_ca_file})", client_ca=client_ca
        )
    if not is_loopback(listen):
        raise TransportError(
            f"listen {listen}: without [tls] certificate_file, key_file and client_ca_file hedui listens on loopback "
            "only (docs/access.md)"
        )
    if tls.plaintext:
        log.warning(
            "PLAINTEXT: [tls] plaintext = true — no TLS on %s, every caller is taken for the development client "
            "of %s with every role. Never run this beyond a developer's machine.",
            listen,
            tls.development_organisation,
        )
        return ServerTransport(None, description="PLAINTEXT (development only)")
    ca = DevelopmentCa(tls.development_dir)
    made = ca.ensure()
    log.warning(
        "DEVELOPMENT CA: no [tls] configured — %s the development CA in %s; listening on loopback only (%s). "
        "Its admin client certificate (admin.pem, admin.key) is what `hedui` commands use by default. "
        "Configure [tls] certificate_file, key_file and client_ca_file for anything beyond a developer's machine.",
        "created" if made else "using",
        ca.directory,
        listen,
    )
    credentials = mutual_tls(
        ca.path("server.pem").read_bytes(), ca.path("server.key").read_bytes(), ca.path("ca.pem").read_bytes()
    )
    return ServerTransport(
        credentials,
        development_certificate=ca.path("admin.pem").read_bytes(),
        description="development CA",
        client_ca=ca.path("ca.pem").read_bytes(),
    )


@dataclass(frozen=True, slots=True)
class ClientTransport:
    """A client's side: the CA it trusts for the server, its own certificate and key (``None``: plaintext)."""

    root_certificates: bytes | None = None
    certificate: bytes | None = None
    key: bytes | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials | None:
        """Channel credentials (``None``: a plaintext channel)."""
        if self.root_certificates is None:
            return None
        return grpc.ssl_channel_credentials(self.root_certificates, self.key, self.certificate)

    def options(self) -> list[tuple[str, str]]:
        """The channel options the credentials need (the name the server's certificate is checked against)."""
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def client_transport(tls: TlsSettings) -> ClientTransport:
    """How the ``hedui`` commands reach the server of this configuration: the development CA's admin client
    certificate (or plaintext) when no ``[tls]`` is configured; with ``[tls]`` a command brings its own."""
    if tls.plaintext:
        return ClientTransport()
    ca = DevelopmentCa(tls.development_dir)
    if tls.configured or not ca.exists:
        raise TransportError(
            f"no client certificate: the development CA is not in {ca.directory} (start `hedui serve` once), and a "
            "server with [tls] configured needs the client's own certificate"
        )
    return ClientTransport(
        ca.path("ca.pem").read_bytes(),
        ca.path("admin.pem").read_bytes(),
        ca.path("admin.key").read_bytes(),
        server_name="localhost",
    )
