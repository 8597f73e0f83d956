"""What a client certificate must be (issue 13, review S5), beyond what gRPC's TLS handshake checks.

The handshake verifies a chain up to the client CA, but a certificate the CA flagged as a CA itself could mint
further "clients" (fresh keys each time), and the handshake lets through chains that break the CA's
``pathLenConstraint``. So a client is an end entity (``CA:FALSE``), for client authentication (extended key usage
``clientAuth``), issued **directly** by the configured client CA; ``hedui clients add`` also refuses one that is
expired or not yet valid. Pure functions over parsed certificates: the interceptor caches the verdict per PEM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = ["client_certificate_problem", "validity_problem"]


def client_certificate_problem(certificate: x509.Certificate, issuers: Sequence[x509.Certificate]) -> str | None:
    """What makes ``certificate`` no client's of the CA ``issuers`` (none given: the issuer is not checked), or
    ``None``: a clause to follow "the client certificate …"."""
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.ca:
        return "is a CA certificate (CA:TRUE), not a client's"
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "has no extended key usage clientAuth"
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        return "is not for client authentication (its extended key usage lacks clientAuth)"
    if issuers and not any(_issued_by(certificate, ca) for ca in issuers):
        return "was not issued directly by the client CA"
    return None


def validity_problem(certificate: x509.Certificate, at: dt.datetime) -> str | None:
    """``None`` when ``certificate`` is valid at ``at``; else why not (expired, or not yet valid)."""
    if certificate.not_valid_after_utc < at:
        return f"expired on {certificate.not_valid_after_utc.isoformat()}"
    if certificate.not_valid_before_utc > at:
        return f"is not valid before {certificate.not_valid_before_utc.isoformat()}"
    return None


def _issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` (a CA certificate) signed ``certificate``."""
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
