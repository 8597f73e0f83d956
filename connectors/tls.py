"""Certificates for remote connectors: pinning, fingerprints, self-signed certificates for development.

hedui pins a department's certificate: the PEM the department hands over is the only root hedui
trusts for that department's connector server. That is either the server's own self-signed
certificate or the department's private CA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertificateError",
    "certificate_authority",
    "certificate_fingerprint",
    "certificate_names",
    "issue_certificate",
    "load_certificates",
    "public_key_sha256",
    "self_signed_certificate",
    "split_address",
    "target_name_override",
]


class CertificateError(ValueError):
    """A PEM that is not a usable X.509 certificate."""


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM file (at least one)."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise CertificateError("not a PEM X.509 certificate") from None
    if not certificates:
        raise CertificateError("no certificate in the PEM")
    return certificates


def certificate_fingerprint(pem: bytes) -> str:
    """SHA-256 of the (first) certificate's DER, as colon-separated upper-case hex."""
    der = load_certificates(pem)[0].public_bytes(serialization.Encoding.DER)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def public_key_sha256(pem: bytes) -> str:
    """SHA-256 of the (first) certificate's public key (its DER SubjectPublicKeyInfo), as lower-case hex.

    What identifies a client: a certificate renewed over the same key is the same client; a new key is not.
    """
    spki = (
        load_certificates(pem)[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return hashlib.sha256(spki).hexdigest()


def certificate_names(pem: bytes) -> tuple[list[str], list[str]]:
    """The (first) certificate's DNS names and IP addresses (subjectAltName), else its common name."""
    certificate = load_certificates(pem)[0]
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return ([str(common[0].value)] if common else []), []
    return list(san.get_values_for_type(x509.DNSName)), [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) into host and port; :class:`ValueError` otherwise."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host.removeprefix("[").removesuffix("]"), int(port_text)


def target_name_override(address: str, pem: bytes) -> str | None:
    """The name to check the server's certificate against when the address is not one of its names."""
    host, _ = split_address(address)
    dns, ips = certificate_names(pem)
    try:
        if str(ipaddress.ip_address(host)) in ips:
            return None
    except ValueError:
        if host.lower() in (name.lower() for name in dns):
            return None
    return dns[0] if dns else None


def self_signed_certificate(
    names: Sequence[str] = ("localhost", "127.0.0.1"), *, days: int = 365
) -> tuple[bytes, bytes]:
    """A self-signed ECDSA P-256 certificate for ``names`` (DNS names or IP addresses): (cert PEM, key PEM).

    For development and tests; a department serving hedui in production uses its own PKI.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "hedui-connector")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (the file holding it is the caller's to keep private)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _usage(*, sign: bool) -> x509.KeyUsage:
    """Key usage: certificate signing for a CA, digital signatures for an end entity."""
    return x509.KeyUsage(
        digital_signature=not sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign,
        crl_sign=sign,
        encipher_only=False,
        decipher_only=False,
    )


def certificate_authority(name: str, *, days: int = 3650) -> tuple[bytes, bytes]:
    """A new ECDSA P-256 certificate authority named ``name``: (cert PEM, key PEM). For development and tests."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_certificate(
    ca_certificate: bytes,
    ca_key: bytes,
    name: str,
    *,
    server_names: Sequence[str] = (),
    days: int = 825,
) -> tuple[bytes, bytes]:
    """A certificate signed by the CA for a new P-256 key: (cert PEM, key PEM).

    With ``server_names`` (DNS names or IP addresses) it is a server's (serverAuth, those names); without, a
    client's (clientAuth, ``name`` as its common name).
    """
    issuer = load_certificates(ca_certificate)[0]
    signer = serialization.load_pem_private_key(ca_key, password=None)
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise CertificateError("the CA key is not an ECDSA key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=days), issuer.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=False), critical=True)
    )
    if server_names:
        alternatives: list[x509.GeneralName] = []
        for server_name in server_names:
            try:
                alternatives.append(x509.IPAddress(ipaddress.ip_address(server_name)))
            except ValueError:
                alternatives.append(x509.DNSName(server_name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    certificate = builder.sign(signer, hashes.SHA256())
    return certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key)
