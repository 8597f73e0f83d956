"""Certificates no helper of connectors.tls makes (issue 13, review S5): CA-flagged ones, ones without or with
another extended key usage, ones expired or not yet valid."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.tls import load_certificates

__all__ = ["issued"]


def issued(
    issuer: tuple[bytes, bytes],
    *,
    ca: bool = False,
    usages: list[x509.ObjectIdentifier] | None = None,
    days: tuple[int, int] = (-1, 30),
) -> tuple[bytes, bytes]:
    """A certificate ``issuer`` signs for a new key (CA:``ca``, the extended key ``usages``, valid ``days``)."""
    issuer_certificate = load_certificates(issuer[0])[0]
    signer = serialization.load_pem_private_key(issuer[1], password=None)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "made")]))
        .issuer_name(issuer_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) + dt.timedelta(days=days[0]))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    pem = builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, key_pem
